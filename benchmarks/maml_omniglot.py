"""Time-to-accuracy of the MAML family on Omniglot (Conv-4, 28x28, Vinyals split).

Meta-trains one method for a wall-clock budget and scores 600 test episodes from the
unseen test classes at each checkpoint time (default 10, 30 and 60 minutes). Training
runs in segments of ``--segment`` meta-updates (`skmeta.benchmarks.meta_fit_segments`);
meta_fit resumes from its checkpoint file between segments, so the run is the same as one
uninterrupted meta_fit, and the time spent scoring is not counted as training time.
``transductive=False``: batch-norm statistics come from each task's support set.

Run (the published MAML figures are 98.7% 5-way 1-shot and 95.8% 20-way 1-shot)::

    python benchmarks/maml_omniglot.py --method maml --n-way 5 --minutes 10 30 60
"""

from __future__ import annotations

import argparse
from pathlib import Path

from skmeta import MAMLClassifier
from skmeta.benchmarks import environment, meta_fit_segments, reference_step_ms, write_record
from skmeta.benchmarks._omniglot import omniglot_test_episodes
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate

METHODS = {
    "maml": {},
    "fomaml": {"first_order": True},
    "anil": {"adapt": "head"},
    "metasgd": {"learn_inner_lr": True},
}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=METHODS, default="maml")
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--n-shot", type=int, default=1)
    parser.add_argument("--minutes", nargs="+", type=float, default=[10, 30, 60])
    parser.add_argument("--segment", type=int, default=50, help="meta-updates per segment")
    parser.add_argument("--meta-batch-size", type=int, default=16)
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--adapt-steps", type=int, default=3)
    parser.add_argument("--test-episodes", type=int, default=600)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--output", default=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    reference_ms = reference_step_ms()  # the machine's speed, to compare records across machines

    X_train, y_train = load_omniglot("train")
    X_test, y_test = load_omniglot("test")
    test = omniglot_test_episodes(X_test, y_test, args.n_way, args.n_shot, args.test_episodes)
    est = MAMLClassifier(
        backbone="conv4",
        n_way=args.n_way,
        n_shot=args.n_shot,
        n_query=15,
        inner_lr=args.inner_lr,
        n_inner_steps=1,
        n_adapt_steps=args.adapt_steps,
        meta_batch_size=args.meta_batch_size,
        meta_lr=1e-3,
        random_state=args.random_state,
        **METHODS[args.method],
    )
    untrained = evaluate(est, test, n_tasks=None)  # all --test-episodes episodes
    print(f"untrained: {untrained}", flush=True)
    rows = [{"minutes": 0.0, "meta_updates": 0, "mean": untrained.mean, "ci95": untrained.ci95}]
    marks = sorted(60 * m for m in args.minutes)
    name = f"maml_omniglot_{args.method}_{args.n_way}w{args.n_shot}s.json"
    path = args.output or Path(__file__).parent / "results" / name

    def save(complete: bool) -> dict:
        # Written at every mark, so that a run cut short keeps the marks it reached.
        record = {
            "benchmark": "maml_omniglot",
            "config": vars(args) | {"backbone": "conv4", "transductive": False, "image_size": 28},
            "complete": complete,
            "results": rows,
            **environment(getattr(est, "device_", None), reference_ms),
        }
        write_record(record, path)
        return record

    segments = meta_fit_segments(
        est,
        X_train,
        y_train,
        budget_seconds=marks[-1],
        segment=args.segment,
        progress=not args.no_progress,
    )
    for done, trained_seconds in segments:
        if trained_seconds < marks[0]:
            continue
        while marks and trained_seconds >= marks[0]:  # a segment may pass several marks
            marks.pop(0)
        score = evaluate(est, test, n_tasks=None)
        rows.append(
            {
                "minutes": trained_seconds / 60,
                "meta_updates": done,
                "mean": score.mean,
                "ci95": score.ci95,
            }
        )
        print(f"{trained_seconds / 60:5.1f} min, {done} meta-updates: {score}", flush=True)
        if marks:
            save(complete=False)
    record = save(complete=True)
    print(f"record written to {path}")
    return record


if __name__ == "__main__":
    main()
