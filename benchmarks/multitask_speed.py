"""Training speed of MultiTaskRegressor (skorch loop) against a hand-written torch loop.

Both train the same network (`MultiTaskNetwork`, School's 28 features, one hidden layer)
on the same minibatches (`TaskBatches`, same seed) with Adam and the squared error; the
hand-written loop is the five lines anyone would write. Samples per second over
``--epochs`` epochs of School's 15,362 rows, median of ``--repeats`` runs; the ratio is
hand-written / skorch (1.0 = no overhead).

Run (about 2 minutes on one CPU thread)::

    python benchmarks/multitask_speed.py

It prints a table and writes ``benchmarks/results/multitask_speed.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from skmeta.benchmarks import environment, write_record
from skmeta.datasets import load_school
from skmeta.multitask import MultiTaskNetwork, MultiTaskRegressor
from skmeta.multitask._training import TaskBatches

RESULTS = Path(__file__).parent / "results"


def hand_written(X, y, task, conditioning, hidden, batch_size, epochs, seed) -> float:
    """Seconds for a plain torch loop over the same model and batches."""
    torch.manual_seed(seed)
    layers = (len(hidden),) if conditioning == "multihead" else tuple(range(len(hidden) + 1))
    net = MultiTaskNetwork(X.shape[1], 1, hidden, conditioning, layers, int(task.max()) + 1)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    batches = TaskBatches(
        X, y, task, batch_size, "proportional", torch.Generator().manual_seed(seed)
    )
    tic = time.perf_counter()
    for _ in range(epochs):
        for inputs, target in batches:
            optimizer.zero_grad()
            loss = ((net(inputs["X"], inputs["task"]).squeeze(1) - target) ** 2).mean()
            loss.backward()
            optimizer.step()
    return time.perf_counter() - tic


def with_skmeta(X, y, groups, conditioning, hidden, batch_size, epochs, seed) -> float:
    model = MultiTaskRegressor(
        conditioning=conditioning,
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        max_epochs=epochs,
        random_state=seed,
    )
    tic = time.perf_counter()
    model.fit(X, y, task_ids=groups)
    return time.perf_counter() - tic


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(RESULTS / "multitask_speed.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, y, groups = load_school()
    X = StandardScaler().fit_transform(X).astype(np.float32)
    y_std = ((y - y.mean()) / y.std()).astype(np.float32)
    task = torch.as_tensor(np.unique(groups, return_inverse=True)[1])
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y_std)
    rows = []
    for conditioning, hidden, batch_size in [
        ("additive", (32,), 128),
        ("multihead", (32,), 128),
        ("additive", (64, 64), 64),
        ("independent", (32,), 128),
    ]:
        times = {"hand-written torch": [], "MultiTaskRegressor (skorch)": []}
        hand_written(X_t, y_t, task, conditioning, hidden, batch_size, 1, 0)  # warm-up
        for r in range(args.repeats):
            times["hand-written torch"].append(
                hand_written(X_t, y_t, task, conditioning, hidden, batch_size, args.epochs, r)
            )
            times["MultiTaskRegressor (skorch)"].append(
                with_skmeta(X, y, groups, conditioning, hidden, batch_size, args.epochs, r)
            )
        n = args.epochs * X.shape[0]
        med = {k: float(np.median(v)) for k, v in times.items()}
        rows.append(
            {
                "conditioning": conditioning,
                "hidden_layer_sizes": list(hidden),
                "batch_size": batch_size,
                "samples_per_second": {k: n / v for k, v in med.items()},
                "ratio": med["MultiTaskRegressor (skorch)"] / med["hand-written torch"],
            }
        )
    print(
        f"\nTraining speed on School ({X.shape[0]} rows, {args.epochs} epochs, median of "
        f"{args.repeats}; {args.threads} thread(s))"
    )
    print(f"{'model':<28} {'batch':>5} {'torch loop /s':>14} {'skmeta /s':>11} {'ratio':>6}")
    for r in rows:
        sps = r["samples_per_second"]
        name = f"{r['conditioning']} {tuple(r['hidden_layer_sizes'])}"
        print(
            f"{name:<28} {r['batch_size']:>5} {sps['hand-written torch']:14.0f} "
            f"{sps['MultiTaskRegressor (skorch)']:11.0f} {r['ratio']:6.2f}"
        )
    record = {
        "benchmark": "multitask_speed",
        "config": vars(args),
        "results": rows,
        **environment("cpu"),
    }
    write_record(record, Path(args.output))
    return record


if __name__ == "__main__":
    main()
