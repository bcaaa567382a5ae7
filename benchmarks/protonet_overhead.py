"""Overhead of `ProtoNetClassifier.fit` + `predict` over the bare forward pass of its encoder.

One 5-way 1-shot Omniglot episode (5 support and 75 query images, 28x28, the embedded
copy of the Vinyals test split) on a meta-fitted `ProtoNetClassifier(backbone="conv4")`:

* ``skmeta``: ``clf.fit(X_support, y_support).predict(X_query)`` from numpy arrays, with
  everything the estimator does (parameter and input validation, label encoding, the
  support embedding, the prototypes, distances, numpy conversion of the result);
* ``bare_forward``: the same Conv-4, parameters and 80 images, one forward pass in
  ``torch.no_grad()`` from a ready-made tensor, nothing else: the batch normalisation
  layers take the statistics of all 80 images (``F.batch_norm``);
* ``bare_forward_support_stats``: the same pass with the statistics of the 5 support
  images only (`skmeta.nn.reference_rows`), which is exactly the arithmetic of
  skmeta's non-transductive prediction (``transductive=False``, the default).

The ratio the issue targets (at most 1.2) is skmeta over ``bare_forward``; the ratio over
``bare_forward_support_stats`` is reported beside it, as the stricter comparison. The
methods run round-robin (interleaved, one call each per round) after a warm-up, and the
medians over the rounds are compared.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/protonet_overhead.py

It prints the medians and the ratio and writes ``benchmarks/results/protonet_overhead.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import load_omniglot
from skmeta.nn import reference_rows
from skmeta.tasks import EpisodeSampler


def _bare_encoder(clf: ProtoNetClassifier) -> torch.nn.Module:
    """The estimator's Conv-4 as a plain module holding the meta-trained parameters."""
    encoder = clf.network_
    encoder.load_state_dict({k: v for k, v in clf.meta_params_.items() if k != "log_temperature"})
    return encoder.eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--n-meta-iterations", type=int, default=20)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    X_train, y_train = load_omniglot("train")
    X_test, y_test = load_omniglot("test")
    clf = ProtoNetClassifier(
        backbone="conv4", n_meta_iterations=args.n_meta_iterations, device="cpu", random_state=0
    ).meta_fit(X_train, y_train)
    task = next(iter(EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=15, random_state=0)))
    X_s, y_s, X_q = task.X_support, task.y_support, task.X_query
    images = torch.from_numpy(np.concatenate([X_s, X_q]).reshape(-1, 1, 28, 28))
    encoder = _bare_encoder(clf)

    def skmeta_episode() -> None:
        clf.fit(X_s, y_s).predict(X_q)

    def bare_forward() -> None:
        with torch.no_grad():
            encoder(images)

    def bare_forward_support_stats() -> None:
        with torch.no_grad(), reference_rows(encoder, len(X_s)):
            encoder(images)

    methods = {
        "skmeta_fit_predict": skmeta_episode,
        "bare_forward": bare_forward,
        "bare_forward_support_stats": bare_forward_support_stats,
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    for r in range(args.warmup + args.rounds):
        for name, run in methods.items():
            tic = time.perf_counter()
            run()
            if r >= args.warmup:
                times[name].append(time.perf_counter() - tic)

    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = median["skmeta_fit_predict"] / median["bare_forward"]
    strict = median["skmeta_fit_predict"] / median["bare_forward_support_stats"]
    print(
        f"5-way 1-shot Omniglot episode (5 + 75 images, Conv-4 28x28), median of "
        f"{args.rounds} round-robin rounds, {torch.get_num_threads()} torch thread(s):"
    )
    for name, value in median.items():
        print(f"  {name:<28} {value * 1e3:7.3f} ms")
    print(f"  ratio to bare_forward        {ratio:7.3f}x  (target <= 1.2x)")
    print(f"  ratio to support-stats pass  {strict:7.3f}x")

    record = {
        "benchmark": "protonet_overhead",
        "config": vars(args)
        | {
            "episode": "5-way 1-shot, 15 queries per class",
            "n_images": int(images.shape[0]),
            "backbone": "conv4",
            "image_size": 28,
            "transductive": False,
            "split": "test (embedded copy)",
        },
        "results": {
            "median_seconds": median,
            "ratio": ratio,
            "ratio_to_support_stats_pass": strict,
            "target_ratio": 1.2,
            "quartiles_seconds": {
                name: [float(q) for q in np.percentile(t, [25, 75])] for name, t in times.items()
            },
        },
        **environment(device="cpu"),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "protonet_overhead.json"
    )
    print(f"  record written to {out}")
    return record


if __name__ == "__main__":
    main()
