"""Multi-task conditioning on synthetic task families where the right answer is known.

Families (`skmeta.multitask.make_task_family`, 10 tasks, 6 features, noise 0.1):

* ``bias``: tasks differ only by an offset, y = f(x) + b_i: additive should win;
* ``gating``: tasks differ by a signed gain, y = a_i f(x): multiplicative should win;
* ``unrelated``: independent linear tasks: sharing hurts (negative transfer), which
  `transfer_report` should flag.

Each conditioning is trained on half of each task's rows (``n_train`` per task) and
scored by R² on the other half, with the descriptor entering the output layer
(``conditioning_layers=[1]``, where the known answers live) and every layer (the
default). Mean over seeds.

Run (about 4 minutes on one CPU thread)::

    python benchmarks/multitask_synthetic.py

It prints the tables and writes ``benchmarks/results/multitask_synthetic.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import r2_score

from skmeta.benchmarks import environment, write_record
from skmeta.multitask import MultiTaskRegressor, make_task_family, transfer_report
from skmeta.tasks import tasks_from_groups

RESULTS = Path(__file__).parent / "results"
CONDITIONINGS = ["concat", "additive", "multiplicative", "multihead", "independent", "shared"]
FAMILIES = {"bias": 30, "gating": 40, "unrelated": 100}  # training rows per task
NET = dict(
    hidden_layer_sizes=(32,),
    batch_size=32,
    max_epochs=300,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=10,
)
PLACEMENTS = {"output layer": [1], "all layers": "all"}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(RESULTS / "multitask_synthetic.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    table: dict = {}
    for family, n_train in FAMILIES.items():
        for placement, layers in PLACEMENTS.items():
            for conditioning in CONDITIONINGS:
                scores = []
                for seed in range(args.n_seeds):
                    X, y, g = make_task_family(
                        family, n_tasks=10, n_samples_per_task=2 * n_train, random_state=seed
                    )
                    train = np.tile(np.r_[np.ones(n_train, bool), np.zeros(n_train, bool)], 10)
                    model = MultiTaskRegressor(
                        conditioning=conditioning,
                        conditioning_layers=layers,
                        **NET,
                        random_state=seed,
                    )
                    model.fit(X[train], y[train], task_ids=g[train])
                    scores.append(r2_score(y[~train], model.predict(X[~train], task_ids=g[~train])))
                table.setdefault(family, {}).setdefault(placement, {})[conditioning] = float(
                    np.mean(scores)
                )
        for placement in PLACEMENTS:
            row = table[family][placement]
            best = max(row, key=row.get)
            print(
                f"{family:<10} z at {placement:<13} "
                + "  ".join(
                    f"{c} {100 * v:5.1f}{'*' if c == best else ' '}" for c, v in row.items()
                )
            )

    # negative transfer: the transfer report of additive conditioning on unrelated tasks
    reports = {}
    for family, n_train in FAMILIES.items():
        X, y, g = make_task_family(
            family, n_tasks=10, n_samples_per_task=2 * n_train, random_state=0
        )
        tasks = tasks_from_groups(X, y, g, n_support=0.5, random_state=0)
        est = MultiTaskRegressor(
            conditioning="additive", conditioning_layers=[1], **NET, random_state=0
        )
        report = transfer_report(est, tasks)
        reports[family] = report.reset_index().to_dict(orient="list")
        print(
            f"\ntransfer_report, additive (z at the output layer), {family} family: "
            f"{report.attrs['n_negative_transfer']}/10 tasks flagged with negative transfer"
        )
        print(report.round(3).to_string())

    record = {
        "benchmark": "multitask_synthetic",
        "config": vars(args)
        | {
            "network": {k: list(v) if isinstance(v, tuple) else v for k, v in NET.items()},
            "train_rows_per_task": FAMILIES,
        },
        "metric": "R2 on held-out rows, mean over seeds",
        "results": table,
        "transfer_reports": reports,
        **environment("cpu"),
    }
    write_record(record, Path(args.output))
    return record


if __name__ == "__main__":
    main()
