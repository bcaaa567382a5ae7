"""Fine-tuning baseline on Omniglot: test accuracy after a fixed pretraining time budget.

Pretrains `FineTuneClassifier` (Conv-4, 28x28) on all classes of the Vinyals train split
as one supervised problem, for ``--budget-minutes`` of wall-clock time, then fine-tunes
on the support sets of 600 test episodes (5-way 1-shot and 20-way 1-shot, unseen test
classes) and reports the mean query accuracy with its 95% interval. Batch normalisation
is non-transductive (``transductive=False``): at test time, statistics come from each
episode's support set.

The budget is spent in chunks of ``--chunk`` steps that resume from a checkpoint
(`skmeta.benchmarks.meta_fit_within`), so the run equals one uninterrupted `meta_fit` of
the total number of steps.

Run (about 18 minutes on one thread with a 5-minute budget: 5 minutes of pre-training, then
the 5-way and 20-way evaluations)::

    OMP_NUM_THREADS=1 python benchmarks/finetune_omniglot.py --budget-minutes 5

It prints a table and writes a JSON record to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from skmeta import FineTuneClassifier
from skmeta.benchmarks import environment, meta_fit_within, write_record
from skmeta.benchmarks._omniglot import omniglot_test_episodes
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-minutes", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=200, help="steps between time checks")
    parser.add_argument("--batch-size", type=int, default=64, help="batch_size")
    parser.add_argument("--meta-lr", type=float, default=1e-3)
    parser.add_argument("--freeze", default="body", help='an int, or "body"')
    parser.add_argument("--finetune-lr", type=float, default=2e-2)
    parser.add_argument("--n-finetune-steps", type=int, default=50)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--data-home", default=None, help="defaults to the embedded copy")
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    freeze = args.freeze if args.freeze == "body" else int(args.freeze)

    X_train, y_train = load_omniglot("train", data_home=args.data_home)
    X_test, y_test = load_omniglot("test", data_home=args.data_home)
    params = dict(
        backbone="conv4",
        freeze=freeze,
        finetune_lr=args.finetune_lr,
        n_finetune_steps=args.n_finetune_steps,
        meta_lr=args.meta_lr,
        batch_size=args.batch_size,
        random_state=args.random_state,
    )

    model = FineTuneClassifier(**params)
    steps, train_seconds = meta_fit_within(
        model,
        X_train,
        y_train,
        budget_seconds=60 * args.budget_minutes,
        segment=args.chunk,
        progress=not args.no_progress,
    )
    print(
        f"pretrained {steps} steps of {args.batch_size} examples on "
        f"{model.n_pretrain_classes_} classes in {train_seconds / 60:.1f} min"
    )

    results = {}
    for n_way in (5, 20):
        tasks = omniglot_test_episodes(X_test, y_test, n_way, 1, args.test_episodes)
        tic = time.perf_counter()
        score = evaluate(model, tasks, n_tasks=None)
        seconds = time.perf_counter() - tic
        results[f"{n_way}-way 1-shot"] = {
            "mean": score.mean,
            "ci95": score.ci95,
            "evaluation_seconds": seconds,
        }
        print(f"  {n_way:2d}-way 1-shot: {score}  ({seconds:.0f} s to evaluate)")

    losses = [h["loss"] for h in model.meta_history_[-100:]]
    accuracies = [h["accuracy"] for h in model.meta_history_[-100:]]
    record = {
        "benchmark": "finetune_omniglot",
        "config": vars(args) | {"transductive": False, "backbone": "conv4", "image_size": 28},
        "results": {
            **results,
            "pretrain_steps": steps,
            "pretrain_classes": model.n_pretrain_classes_,
            "pretrain_seconds": train_seconds,
            "final_train_loss": float(np.mean(losses)),
            "final_train_accuracy": float(np.mean(accuracies)),
        },
        **environment(model.device_),
    }
    default = (
        Path(__file__).parent / "results" / f"finetune_omniglot_{args.budget_minutes:g}min.json"
    )
    out = write_record(record, args.output or default)
    print(f"wrote {out}")
    return record


if __name__ == "__main__":
    main()
