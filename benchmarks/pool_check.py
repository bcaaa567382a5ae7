"""The NaN/infinity check of a meta-training pool, at every `meta_fit` on ``(X, y)``.

`meta_fit(X, y)` checks that a float pool holds no NaN or infinity before it draws
episodes from it; the benchmark runner calls `meta_fit` once per segment of 50
meta-updates, so the check runs every segment. Timed here on the embedded Omniglot
training pool (82,240 images of 28x28, float32, 258 MB), interleaved, one process:

* ``elementwise``: ``np.all(np.isfinite(X))``, the check before 2026-12-07 (a boolean
  temporary of the pool's size, then a reduction over it);
* ``sum``: ``skmeta.tasks._task._all_finite(X)``, the check now: a sum is finite only
  when every term is, so one pass without a temporary decides (an overflowing sum falls
  back to the elementwise check);
* ``meta_fit_start``: a whole ``ProtoNetClassifier(backbone="conv4",
  n_meta_iterations=1).meta_fit(X, y)`` (the start: validation, sampler, network; then
  one 5-way 1-shot meta-update), for scale.

Reported: the medians over ``--repeats`` rounds and the ratio sum / elementwise.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/pool_check.py

It writes ``benchmarks/results/pool_check.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import load_omniglot
from skmeta.tasks._task import _all_finite

RESULTS = Path(__file__).resolve().parent / "results"


def _ms(fn) -> float:
    tic = time.perf_counter()
    fn()
    return 1e3 * (time.perf_counter() - tic)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default=str(RESULTS / "pool_check.json"))
    args = parser.parse_args(argv)
    X, y = load_omniglot("train")
    assert np.all(np.isfinite(X)) and _all_finite(X)

    def meta_fit_start():
        est = ProtoNetClassifier(backbone="conv4", n_meta_iterations=1, device="cpu")
        est.set_params(random_state=0).meta_fit(X, y)

    methods = {
        "elementwise": lambda: bool(np.all(np.isfinite(X))),
        "sum": lambda: _all_finite(X),
        "meta_fit_start": meta_fit_start,
    }
    for fn in methods.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            times[name].append(_ms(fn))
    medians = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "median_ms": medians,
        "ratio_sum_to_elementwise": medians["sum"] / medians["elementwise"],
        "pool": {"shape": list(X.shape), "dtype": str(X.dtype), "megabytes": X.nbytes / 2**20},
    }
    record = {
        "benchmark": "pool_check",
        "config": vars(args),
        "result": result,
        "times_ms": times,
        **environment(device="cpu"),
    }
    out = write_record(record, args.output)
    for name, ms in medians.items():
        print(f"{name:16s} {ms:8.1f} ms (median of {args.repeats})")
    print(f"sum / elementwise: {result['ratio_sum_to_elementwise']:.2f}x; record: {out}")
    return record


if __name__ == "__main__":
    main()
