"""Forward and backward time of TaskBatchNorm's two transductive normalisations.

Both normalise with the statistics of every row of the batch (the transductive
embedding of an episode).

* ``reference_rows``: the reference-row path with all rows as reference rows
  (`_ReferenceBatchNorm`: per-channel sums for the statistics, ATen's eval-mode batch
  norm forward and its training-mode backward), what `TaskBatchNorm` ran before;
* ``aten_training``: ``F.batch_norm(training=True)``, ATen's training-mode batch norm,
  what `TaskBatchNorm` runs now when the reference rows cover the batch;
* ``support_rows``, for scale: the default, non-transductive path, statistics of the
  first ``--support`` rows only.

Inputs: the four Conv-4 feature-map shapes of an 80-image Omniglot episode (64 channels,
28x28 down to 3x3), channels-last, float32, one torch thread; each measurement is the
median over ``--repeats`` rounds (rotating order) of the forward and backward pass of
all four layers. Run::

    OMP_NUM_THREADS=1 python benchmarks/task_batch_norm.py

It writes ``benchmarks/results/task_batch_norm.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from skmeta.benchmarks import environment, write_record
from skmeta.nn._backbones import _ReferenceBatchNorm

_SIDES = (28, 14, 7, 3)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--support", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    layers = []
    for side in _SIDES:
        shape = (args.rows, 64, side, side)
        x = torch.randn(shape, generator=gen).contiguous(memory_format=torch.channels_last)
        g = torch.randn(shape, generator=gen).contiguous(memory_format=torch.channels_last)
        layers.append((x, g))
    weight = (torch.rand(64, generator=gen) + 0.5).requires_grad_()
    bias = torch.zeros(64, requires_grad=True)

    def run(norm):
        def once():
            for x0, g in layers:
                x = x0.detach().requires_grad_()
                norm(x).backward(g)

        return once

    methods = {
        "reference_rows": run(
            lambda x: _ReferenceBatchNorm.apply(x, weight, bias, x.shape[0], 1e-5)[0]
        ),
        "aten_training": run(
            lambda x: F.batch_norm(x, None, None, weight, bias, training=True, eps=1e-5)
        ),
        "support_rows": run(
            lambda x: _ReferenceBatchNorm.apply(x, weight, bias, args.support, 1e-5)[0]
        ),
    }
    for once in methods.values():
        once()
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            tic = time.perf_counter()
            methods[name]()
            times[name].append(1e3 * (time.perf_counter() - tic))
    median = {name: statistics.median(v) for name, v in times.items()}
    ratio = median["aten_training"] / median["reference_rows"]
    print(f"TaskBatchNorm forward + backward, 4 Conv-4 layers of {args.rows} rows, ms:")
    for name, value in median.items():
        print(f"  {name:<15} {value:7.3f} ms")
    print(f"  aten_training / reference_rows: {ratio:.3f}x")
    record = {
        "benchmark": "task_batch_norm",
        "config": vars(args) | {"shapes": [list(x.shape) for x, _ in layers]},
        "results": {"median_ms": median, "ratio_aten_to_reference": ratio, "all_ms": times},
        **environment(device="cpu"),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "task_batch_norm.json"
    )
    print(f"  record written to {out}")
    return record


if __name__ == "__main__":
    main()
