"""Multi-task regression on School: every conditioning against single-task and pooled baselines.

Protocol (Argyriou, Evgeniou & Pontil 2008): 10 random 75/25 splits within each of the
139 schools; explained variance 1 - MSE / Var(y_test) on the pooled test rows, averaged
over the splits (the per-school average is reported too). X is standardised on the
training rows; `MultiTaskRegressor` standardises y itself. Models:

* independent ridge: one `RidgeCV` per school (alpha by leave-one-out from 13 values);
* pooled ridge and pooled MLP (`MultiTaskRegressor(conditioning="shared")`): one model
  for all schools;
* regularised MTL (Evgeniou & Pontil 2004): ridge on the augmented features
  [x, x * 1{school}], i.e. w_school = w_0 + v_school with both parts shrunk. sklearn's
  `MultiTaskLasso` needs one design matrix shared by all tasks, which School (different
  pupils per school) does not have, so this is its stand-in;
* `MultiTaskRegressor` with every conditioning, and the two copy-per-task conditionings
  with soft sharing (``sharing_penalty``).

Run (about 10 minutes on one CPU thread)::

    python benchmarks/multitask_school.py

It prints a table and writes ``benchmarks/results/multitask_school.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.preprocessing import StandardScaler

from skmeta.benchmarks import (
    environment,
    explained_variance,
    independent_ridge,
    split_within_tasks,
    write_record,
)
from skmeta.benchmarks._school import RIDGE_ALPHAS as ALPHAS
from skmeta.benchmarks._school import SCHOOL_NETWORK as NET
from skmeta.datasets import load_school
from skmeta.multitask import MultiTaskRegressor

RESULTS = Path(__file__).parent / "results"
MODELS = {
    "MTL concat": dict(conditioning="concat"),
    "MTL additive": dict(conditioning="additive"),
    "MTL multiplicative": dict(conditioning="multiplicative"),
    "MTL multihead": dict(conditioning="multihead"),
    "MTL multihead, soft sharing 0.01": dict(conditioning="multihead", sharing_penalty=0.01),
    "MTL independent (one MLP per school)": dict(conditioning="independent"),
    "MTL independent, soft sharing 0.01": dict(conditioning="independent", sharing_penalty=0.01),
    "pooled MLP (conditioning='shared')": dict(conditioning="shared"),
}


def augmented(X: np.ndarray, groups: np.ndarray, tasks: np.ndarray) -> sp.csr_matrix:
    """[x, x * 1{task}]: a shared weight vector plus one deviation per task."""
    index = np.searchsorted(tasks, groups)
    n, d = X.shape
    cols = index[:, None] * d + np.arange(d)[None, :]
    specific = sp.csr_matrix(
        (X.ravel(), (np.repeat(np.arange(n), d), cols.ravel())), shape=(n, d * tasks.shape[0])
    )
    return sp.hstack([sp.csr_matrix(X), specific]).tocsr()


def regularised_mtl(X_tr, y_tr, g_tr, X_te, g_te, seed) -> np.ndarray:
    tasks = np.unique(g_tr)
    A_tr, A_te = augmented(X_tr, g_tr, tasks), augmented(X_te, g_te, tasks)
    # alpha by a held-out 10% of each school's training rows, then refit on all of them
    val = split_within_tasks(g_tr, 0.1, seed + 1000)
    best = max(
        ALPHAS,
        key=lambda a: (
            -np.mean(
                (Ridge(alpha=a).fit(A_tr[~val], y_tr[~val]).predict(A_tr[val]) - y_tr[val]) ** 2
            )
        ),
    )
    return Ridge(alpha=best).fit(A_tr, y_tr).predict(A_te)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-splits", type=int, default=10)
    parser.add_argument("--data-home", default=None, help="defaults to the embedded copy")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--output", default=str(RESULTS / "multitask_school.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, y, groups = load_school(args.data_home)
    scores: dict[str, list[tuple[float, float]]] = {}
    seconds: dict[str, float] = {}

    def record(name, pred, g_te, y_te, tic):
        scores.setdefault(name, []).append(explained_variance(y_te, pred, g_te))
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - tic

    for split in range(args.n_splits):
        test = split_within_tasks(groups, 0.25, split)
        scaler = StandardScaler().fit(X[~test])
        X_tr, X_te = scaler.transform(X[~test]), scaler.transform(X[test])
        y_tr, y_te, g_tr, g_te = y[~test], y[test], groups[~test], groups[test]

        tic = time.perf_counter()
        record(
            "independent ridge (RidgeCV per school)",
            independent_ridge(X_tr, y_tr, g_tr, X_te, g_te),
            g_te,
            y_te,
            tic,
        )
        tic = time.perf_counter()
        record(
            "pooled ridge (RidgeCV)",
            RidgeCV(alphas=ALPHAS).fit(X_tr, y_tr).predict(X_te),
            g_te,
            y_te,
            tic,
        )
        tic = time.perf_counter()
        record(
            "regularised MTL ridge (Evgeniou & Pontil 2004)",
            regularised_mtl(X_tr, y_tr, g_tr, X_te, g_te, split),
            g_te,
            y_te,
            tic,
        )
        for name, params in MODELS.items():
            tic = time.perf_counter()
            model = MultiTaskRegressor(**NET, **params, random_state=split)
            model.fit(X_tr, y_tr, task_ids=g_tr)
            record(name, model.predict(X_te, task_ids=g_te), g_te, y_te, tic)
        print(f"split {split + 1}/{args.n_splits} done", flush=True)

    rows = []
    for name, values in scores.items():
        values = np.asarray(values)
        rows.append(
            {
                "model": name,
                "explained_variance": float(values[:, 0].mean()),
                "std_over_splits": float(values[:, 0].std(ddof=1)) if len(values) > 1 else 0.0,
                "per_school_mean": float(values[:, 1].mean()),
                "seconds_per_split": seconds[name] / len(values),
            }
        )
    print(
        f"\nSchool, {args.n_splits} random 75/25 splits within each school; explained "
        "variance in % (pooled test rows; mean over schools)"
    )
    print(f"{'model':<48} {'EV %':>7} {'± sd':>6} {'per-school %':>13} {'s/split':>8}")
    for r in sorted(rows, key=lambda r: -r["explained_variance"]):
        print(
            f"{r['model']:<48} {100 * r['explained_variance']:7.2f} "
            f"{100 * r['std_over_splits']:6.2f} {100 * r['per_school_mean']:13.2f} "
            f"{r['seconds_per_split']:8.1f}"
        )

    record_ = {
        "benchmark": "multitask_school",
        "config": vars(args)
        | {"network": {k: list(v) if isinstance(v, tuple) else v for k, v in NET.items()}},
        "results": rows,
        **environment(),
    }
    write_record(record_, args.output)
    return record_


if __name__ == "__main__":
    main()
