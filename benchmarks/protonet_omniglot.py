"""ProtoNet on Omniglot: test accuracy with and without meta-training.

Meta-trains `ProtoNetClassifier` (Conv-4, 28x28) on episodes of the Vinyals train split,
then scores 600 test episodes drawn from the unseen test classes, once with the
meta-trained prior and once with the same estimator left untrained (a nearest-centroid
classifier on a random Conv-4 embedding). Batch normalisation is non-transductive
(``transductive=False``): statistics come from each episode's support set.

Run (about 7.5 minutes on 2 CPU cores: 7 of meta-training, then the evaluation)::

    python benchmarks/protonet_omniglot.py --n-meta-iterations 4000

It prints a table and writes a JSON record to ``benchmarks/results/``. The same
comparison for a wall-clock budget rather than a number of episodes, with a plot::

    python -m skmeta.benchmarks omniglot --estimator protonet --budget-minutes 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.benchmarks._omniglot import omniglot_test_episodes
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-meta-iterations", type=int, default=4000)
    parser.add_argument("--train-n-way", type=int, default=5)
    parser.add_argument("--train-n-query", type=int, default=15)
    parser.add_argument("--n-way", type=int, default=5, help="ways at test time")
    parser.add_argument("--n-shot", type=int, default=1)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--meta-lr", type=float, default=1e-3)
    parser.add_argument("--data-home", default=None, help="defaults to the embedded copy")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    X_train, y_train = load_omniglot("train", data_home=args.data_home)
    X_test, y_test = load_omniglot("test", data_home=args.data_home)
    test_tasks = omniglot_test_episodes(X_test, y_test, args.n_way, args.n_shot, args.test_episodes)
    params = dict(
        backbone="conv4",
        n_way=args.train_n_way,
        n_shot=args.n_shot,
        n_query=args.train_n_query,
        meta_lr=args.meta_lr,
        n_meta_iterations=args.n_meta_iterations,
        random_state=args.random_state,
        verbose=1,
    )

    tic = time.perf_counter()
    untrained = evaluate(ProtoNetClassifier(**params), test_tasks, n_tasks=None)
    eval_seconds = time.perf_counter() - tic

    tic = time.perf_counter()
    model = ProtoNetClassifier(**params).meta_fit(X_train, y_train)
    train_seconds = time.perf_counter() - tic
    trained = evaluate(model, test_tasks, n_tasks=None)

    setting = f"{args.n_way}-way {args.n_shot}-shot"
    print(
        f"\nOmniglot {setting}, {args.test_episodes} test episodes, Conv-4 28x28, "
        f"transductive=False"
    )
    print(f"  without meta_fit : {untrained}")
    print(
        f"  with meta_fit    : {trained}  ({args.n_meta_iterations} episodes of "
        f"{args.train_n_way}-way, {train_seconds / 60:.1f} min)"
    )

    record = {
        "benchmark": "protonet_omniglot",
        "config": vars(args) | {"transductive": False, "backbone": "conv4", "image_size": 28},
        "results": {
            "untrained": {"mean": untrained.mean, "ci95": untrained.ci95},
            "meta_trained": {"mean": trained.mean, "ci95": trained.ci95},
            "meta_train_seconds": train_seconds,
            "evaluation_seconds": eval_seconds,
            "final_train_loss": float(np.mean([h["loss"] for h in model.meta_history_[-100:]])),
        },
        **environment(model.device_),
    }
    out = (
        Path(args.output)
        if args.output
        else (
            Path(__file__).parent
            / "results"
            / f"protonet_omniglot_{args.n_way}w{args.n_shot}s_{args.n_meta_iterations}it.json"
        )
    )
    write_record(record, out)
    print(f"  record written to {out}")
    return record


if __name__ == "__main__":
    main()
