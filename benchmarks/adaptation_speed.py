"""Adaptation speed: `fit` (and `fit` + `predict`) on a new task, black-box against the rest.

A black-box learner adapts by one forward pass over the support set (no gradient steps);
this measures what that buys against the other learners' adaptation, each with its
library defaults, on two kinds of task:

* **Omniglot 5-way 1-shot** (5 support and 75 query images, 28x28, an episode of the
  embedded copy of the Vinyals test split), ``backbone="conv4"``: `BlackBoxClassifier`,
  `ProtoNetClassifier`, `MatchingNetClassifier`, `RelationNetClassifier`,
  `SiameseClassifier`, `MAMLClassifier` (its default of one adaptation step, and
  ``n_adapt_steps=10``, the MAML paper's test-time setting) and `FineTuneClassifier` (50
  steps on a new head, its default); beside them, the bare Conv-4 forward pass over the 5
  support images (``bare_support_forward``), the least any learner that embeds the
  support could take.
* **Sinusoid regression, K = 10** (10 support and 100 query points): `BlackBoxRegressor`
  against `MAMLRegressor` (one step, and ten), with the bare forward pass of the
  regressor's network over the 10 support points.

Every learner is meta-trained briefly first (``--n-meta-iterations``: the timings of
`fit` and `predict` do not depend on how far meta-training went, only on the network and
the adaptation), so `fit` adapts a meta-trained prior, as in use. The learners then run
round-robin, one `fit` and one `fit` + `predict` each per round, after a warm-up;
reported are the medians over the rounds and each learner's ratio to the black-box
learner's median (above 1: slower than the forward-pass adaptation). One process, CPU.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/adaptation_speed.py

It writes ``benchmarks/results/adaptation_speed.json``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from skmeta import (
    BlackBoxClassifier,
    BlackBoxRegressor,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    MatchingNetClassifier,
    ProtoNetClassifier,
    RelationNetClassifier,
    SiameseClassifier,
)
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import SinusoidTasks, load_omniglot
from skmeta.tasks import EpisodeSampler


def _omniglot(args: argparse.Namespace) -> tuple[dict, dict[str, Callable[[], object]]]:
    X_train, y_train = load_omniglot("train")
    X_test, y_test = load_omniglot("test")
    sampler = EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=15, random_state=0)
    task = next(iter(sampler))
    common = dict(backbone="conv4", n_meta_iterations=args.n_meta_iterations, device="cpu")
    learners = {
        "BlackBoxClassifier": BlackBoxClassifier(**common, random_state=0),
        "ProtoNetClassifier": ProtoNetClassifier(**common, random_state=0),
        "MatchingNetClassifier": MatchingNetClassifier(**common, random_state=0),
        "RelationNetClassifier": RelationNetClassifier(**common, random_state=0),
        "SiameseClassifier": SiameseClassifier(**common, random_state=0),
        "MAMLClassifier": MAMLClassifier(**common, meta_batch_size=2, random_state=0),
        "FineTuneClassifier": FineTuneClassifier(**common, random_state=0),
    }
    for est in learners.values():
        est.meta_fit(X_train, y_train)
    learners["MAMLClassifier(n_adapt_steps=10)"] = _with_params(
        learners["MAMLClassifier"], n_adapt_steps=10
    )
    encoder = learners["ProtoNetClassifier"].network_.eval()
    support = torch.from_numpy(task.X_support.reshape(-1, 1, 28, 28))
    setting = {
        "task": "Omniglot 5-way 1-shot, 15 queries per class (test split, embedded copy)",
        "n_support": int(task.X_support.shape[0]),
        "n_query": int(task.X_query.shape[0]),
        "backbone": "conv4",
    }
    return setting, _runs(learners, task, lambda: _bare(encoder, support))


def _sinusoid(args: argparse.Namespace) -> tuple[dict, dict[str, Callable[[], object]]]:
    task = SinusoidTasks(n_support=10, n_query=100, random_state=1).sample(1)[0]
    learners = {
        "BlackBoxRegressor": BlackBoxRegressor(
            n_meta_iterations=args.n_meta_iterations, device="cpu", random_state=0
        ),
        "MAMLRegressor": MAMLRegressor(
            n_meta_iterations=args.n_meta_iterations, device="cpu", random_state=0
        ),
    }
    for est in learners.values():
        est.meta_fit(SinusoidTasks(random_state=0))
    learners["MAMLRegressor(n_adapt_steps=10)"] = _with_params(
        learners["MAMLRegressor"], n_adapt_steps=10
    )
    network = learners["MAMLRegressor"].network_.eval()
    support = torch.from_numpy(task.X_support.astype(np.float32))
    setting = {
        "task": "sinusoid regression, K = 10 support points, 100 queries",
        "n_support": int(task.X_support.shape[0]),
        "n_query": int(task.X_query.shape[0]),
        "backbone": "mlp (each learner's default widths)",
    }
    return setting, _runs(learners, task, lambda: _bare(network, support))


def _with_params(est, **params):
    """A copy of a meta-trained estimator with other adaptation parameters."""
    return copy.deepcopy(est).set_params(**params)


def _bare(module: torch.nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


def _runs(learners: dict, task, bare: Callable[[], None]) -> dict[str, Callable[[], object]]:
    runs: dict[str, Callable[[], object]] = {}
    for name, est in learners.items():
        runs[f"{name}.fit"] = lambda est=est: est.fit(task.X_support, task.y_support)
        runs[f"{name}.fit+predict"] = lambda est=est: est.fit(
            task.X_support, task.y_support
        ).predict(task.X_query)
    runs["bare_support_forward"] = bare
    return runs


def _time(runs: dict[str, Callable[[], object]], rounds: int, warmup: int) -> dict[str, list]:
    times: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for r in range(warmup + rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:  # rotating order
            tic = time.perf_counter()
            runs[name]()
            if r >= warmup:
                times[name].append(time.perf_counter() - tic)
    return times


def _summary(times: dict[str, list[float]], reference: str) -> dict:
    median = {name: statistics.median(t) for name, t in times.items()}
    out = {}
    for name, t in times.items():
        kind = name.rsplit(".", 1)[-1] if "." in name else None
        ref = median.get(f"{reference}.{kind}") if kind else None
        out[name] = {
            "median_ms": 1e3 * median[name],
            "quartiles_ms": [float(1e3 * q) for q in np.percentile(t, [25, 75])],
            "ratio_to_blackbox": None if ref is None else median[name] / ref,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--n-meta-iterations", type=int, default=20)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    results = {}
    for key, build, reference in (
        ("omniglot_5w1s", _omniglot, "BlackBoxClassifier"),
        ("sinusoid_k10", _sinusoid, "BlackBoxRegressor"),
    ):
        setting, runs = build(args)
        summary = _summary(_time(runs, args.rounds, args.warmup), reference)
        results[key] = {"setting": setting, "timings": summary}
        print(
            f"{setting['task']}: median of {args.rounds} rounds, "
            f"{torch.get_num_threads()} torch thread(s)"
        )
        for name, row in summary.items():
            ratio = row["ratio_to_blackbox"]
            shown = "" if ratio is None else f"  {ratio:6.2f}x black-box"
            print(f"  {name:<44} {row['median_ms']:9.2f} ms{shown}")

    record = {
        "benchmark": "adaptation_speed",
        "config": vars(args),
        "results": results,
        **environment(device="cpu"),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "adaptation_speed.json"
    )
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
