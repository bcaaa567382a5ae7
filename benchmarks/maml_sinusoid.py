"""MAML, Meta-SGD and Reptile on the sinusoid regression tasks of Finn et al. (2017).

Setup of the papers: a 1-40-40-1 ReLU network, K = 5 / 10 / 20 support points per task
(one model meta-trained per K, with K query points), 25 tasks per meta-update, Adam
(lr 1e-3) in the outer loop, inner step size 0.01, ONE gradient step at adaptation.
Scored on 600 new tasks, mean squared error on 100 query points, with its 95% CI.
Published: MAML 0.686 / 0.435 / 0.228 and Meta-SGD 0.482 / 0.258 / 0.127 (Li et al. 2017,
after about 70,000 meta-updates). No normalisation layers: ``transductive`` does not apply.

Run (about 4 minutes per model at 20,000 meta-updates on one CPU core)::

    OMP_NUM_THREADS=1 python benchmarks/maml_sinusoid.py --n-meta-iterations 20000

One method and K for a wall-clock budget, with a plot of the training curve::

    python -m skmeta.benchmarks sinusoid --estimator maml --n-shot 10 --budget-minutes 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from skmeta import MAMLRegressor, ReptileRegressor
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import SinusoidTasks
from skmeta.evaluation import evaluate

METHODS = {
    "maml": lambda **kw: MAMLRegressor(**kw),
    "fomaml": lambda **kw: MAMLRegressor(first_order=True, **kw),
    "metasgd": lambda **kw: MAMLRegressor(learn_inner_lr=True, **kw),
    "anil": lambda **kw: MAMLRegressor(adapt="head", **kw),
    "reptile": lambda **kw: ReptileRegressor(**kw),  # adapts with its 10 SGD steps
}
PUBLISHED = {
    "maml": {5: 0.686, 10: 0.435, 20: 0.228},
    "metasgd": {5: 0.482, 10: 0.258, 20: 0.127},
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["maml", "metasgd"], choices=METHODS)
    parser.add_argument("--shots", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--n-meta-iterations", type=int, default=20000)
    parser.add_argument("--test-tasks", type=int, default=600)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    rows = []
    for method in args.methods:
        for k in args.shots:
            train = SinusoidTasks(n_support=k, n_query=k, random_state=args.random_state)
            test = SinusoidTasks(
                n_support=k, n_query=100, n_tasks=args.test_tasks, random_state=10_000 + k
            )
            model = METHODS[method](
                n_meta_iterations=args.n_meta_iterations, random_state=args.random_state
            )
            tic = time.perf_counter()
            model.meta_fit(train)
            seconds = time.perf_counter() - tic
            score = evaluate(model, test, n_tasks=None)
            published = PUBLISHED.get(method, {}).get(k)
            rows.append(
                {
                    "method": method,
                    "k": k,
                    "mse": score.mean,
                    "ci95": score.ci95,
                    "published": published,
                    "meta_train_seconds": seconds,
                }
            )
            print(
                f"{method:8s} K={k:2d}  MSE {score.mean:.3f} ± {score.ci95:.3f}"
                f"{f'  (published {published})' if published is not None else ''}"
                f"  {seconds / 60:.1f} min",
                flush=True,
            )
    record = {
        "benchmark": "maml_sinusoid",
        "config": vars(args) | {"inner_lr": 0.01, "meta_batch_size": 25, "adapt_steps": 1},
        "results": rows,
        **environment(),
    }
    out = (
        Path(args.output)
        if args.output
        else (Path(__file__).parent / "results" / f"maml_sinusoid_{args.n_meta_iterations}it.json")
    )
    write_record(record, out)
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
