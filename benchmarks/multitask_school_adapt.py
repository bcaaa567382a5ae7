"""Adapting a jointly trained multi-task network to new schools, against the pooled model.

School data (139 schools). For each of ``--repeats`` random draws, 10 schools with at
least 50 pupils are held out; `MultiTaskRegressor(conditioning="additive")` and the pooled
network (``conditioning="shared"``, the school ignored) are trained on every pupil of the
other 129 schools, after a `StandardScaler`, with the example's settings (one hidden
layer of 32 units, batches of 128, early stopping). Each held-out school then gets a
support set of its first 10, 20 or 40 pupils (one random order per school) and is scored
on the same pupils beyond the first 40, so the support sizes are compared on the same
queries:

* ``pooled``: the pooled network, which needs no support set;
* ``adapted``: `fit(X_support, y_support)` without task ids, which learns only the new
  school's descriptor (the network stays frozen), with the defaults
  (``n_adapt_steps=100``, ``adapt_lr=1e-2``) and three variants: no steps
  (``n_adapt_steps=0``: the multi-task network with the new school's initial
  descriptor), fewer steps (``n_adapt_steps=20``) and a pull towards the average school
  (``sharing_penalty=0.1``);
* ``ridge``: `RidgeCV` on the support pupils alone (no transfer).

Reported: explained variance on the query pupils, averaged over schools and draws, and
the paired difference to the pooled network, each with its 95% interval. Positive means
adapting helps; negative is negative transfer from too few pupils.

Run (about 10 minutes on one thread)::

    OMP_NUM_THREADS=1 python benchmarks/multitask_school_adapt.py --repeats 10

It prints a table and writes ``benchmarks/results/multitask_school_adapt.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import explained_variance_score
from sklearn.preprocessing import StandardScaler

from skmeta.benchmarks import environment, write_record
from skmeta.datasets import load_school
from skmeta.multitask import MultiTaskRegressor

SUPPORT_SIZES = (10, 20, 40)
NETWORK = dict(hidden_layer_sizes=(32,), batch_size=128, early_stopping=True, n_iter_no_change=5)
VARIANTS = {
    "not adapted (n_adapt_steps=0)": {"n_adapt_steps": 0},
    "adapted": {},
    "adapted, n_adapt_steps=20": {"n_adapt_steps": 20},
    "adapted, sharing_penalty=0.1": {"sharing_penalty": 0.1},
}


def _interval(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {
        "mean": float(v.mean()),
        "ci95": float(1.96 * v.std(ddof=1) / np.sqrt(v.size)),
        "n": int(v.size),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="random draws of held-out schools")
    parser.add_argument("--n-new", type=int, default=10, help="schools held out per draw")
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small networks train fastest on one thread

    X, y, school = load_school(data_home=args.data_home)
    ids, counts = np.unique(school, return_counts=True)
    eligible = ids[counts >= max(SUPPORT_SIZES) + 10]
    scores: dict[str, dict[int, list[float]]] = {}
    gains: dict[str, dict[int, list[float]]] = {}
    pooled_scores: list[float] = []
    tic = time.perf_counter()
    for repeat in range(args.repeats):
        rng = np.random.default_rng(repeat)
        new_schools = rng.choice(eligible, args.n_new, replace=False)
        known = ~np.isin(school, new_schools)
        scaler = StandardScaler().fit(X[known])
        Xs = scaler.transform(X)
        model = MultiTaskRegressor(conditioning="additive", **NETWORK, random_state=repeat)
        model.fit(Xs[known], y[known], task_ids=school[known])
        pooled = MultiTaskRegressor(conditioning="shared", **NETWORK, random_state=repeat)
        pooled.fit(Xs[known], y[known], task_ids=school[known])
        defaults = {k: model.get_params()[k] for k in ("n_adapt_steps", "sharing_penalty")}
        any_known = school[known][:1]
        for s in new_schools:
            rows = rng.permutation(np.flatnonzero(school == s))
            query = rows[max(SUPPORT_SIZES) :]
            reference = pooled.predict(Xs[query], task_ids=np.repeat(any_known, query.size))
            ev_pooled = explained_variance_score(y[query], reference)
            pooled_scores.append(ev_pooled)
            for n in SUPPORT_SIZES:
                support = rows[:n]
                ridge = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(Xs[support], y[support])
                predicted = {"ridge": ridge.predict(Xs[query])}
                for name, params in VARIANTS.items():
                    # fit without task ids adapts the new school's descriptor only
                    model.set_params(**(defaults | params)).fit(Xs[support], y[support])
                    predicted[name] = model.predict(Xs[query])
                model.set_params(**defaults)
                for name, prediction in predicted.items():
                    ev = explained_variance_score(y[query], prediction)
                    scores.setdefault(name, {}).setdefault(n, []).append(ev)
                    gains.setdefault(name, {}).setdefault(n, []).append(ev - ev_pooled)
        print(f"draw {repeat + 1}/{args.repeats} done ({time.perf_counter() - tic:.0f} s)")

    results = {
        "pooled": _interval(pooled_scores),
        "models": {
            name: {
                str(n): {
                    "explained_variance": _interval(v),
                    "gain_over_pooled": _interval(gains[name][n]),
                }
                for n, v in by_n.items()
            }
            for name, by_n in scores.items()
        },
        "seconds": time.perf_counter() - tic,
    }
    print(
        f"\nExplained variance on the held-out schools' query pupils "
        f"({len(pooled_scores)} schools over {args.repeats} draws); pooled network "
        f"{results['pooled']['mean']:.3f} ± {results['pooled']['ci95']:.3f}"
    )
    print(f"{'model':32s}" + "".join(f"{f'{n} pupils: EV (gain)':>28s}" for n in SUPPORT_SIZES))
    for name, by_n in results["models"].items():
        cells = [
            f"{r['explained_variance']['mean']:.3f} ({r['gain_over_pooled']['mean']:+.3f} "
            f"± {r['gain_over_pooled']['ci95']:.3f})"
            for r in by_n.values()
        ]
        print(f"{name:32s}" + "".join(f"{c:>28s}" for c in cells))

    record = {
        "benchmark": "multitask_school_adapt",
        "config": vars(args)
        | {
            "network": NETWORK,
            "support_sizes": list(SUPPORT_SIZES),
            "variants": VARIANTS,
            "conditioning": "additive",
        },
        "results": results,
        **environment("cpu"),
    }
    out = (
        Path(args.output)
        if args.output
        else Path(__file__).parent / "results" / "multitask_school_adapt.json"
    )
    write_record(record, out)
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
