"""The convolutional relation module: stacked pairs against the split first convolution.

Sung et al.'s relation module reads a query's and a class's feature maps stacked by
channel, [q; c], and starts with a 3x3 convolution. That convolution is linear, so
``conv([q; c]) = conv_q(q) + conv_c(c)`` with the two halves of its weight (zero padding
is per channel: the split is exact). `RelationNetClassifier` computes it that way: each
query and each class is convolved once and the results are added pairwise, in place of
one convolution of every stacked pair.

Timed here, the same module with the same weights both ways (``forward_stacked``, the
paper's form, against ``forward``), on Conv-4 feature maps of 28x28 Omniglot images
(64 channels, 7x7, Sung et al.'s embedding module), interleaved, one process:

* ``train_5w1s``: the relation module's forward and backward for a 5-way 1-shot
  meta-training episode with 15 queries per class (75 queries x 5 classes);
* ``episode_5w1s``: a whole meta-training step of that episode: the embedding module over
  the 80 images, the class maps, the relation module, backward;
* ``predict_20w5s``: one prediction pass of a 20-way 5-shot test episode, 204 queries x
  20 classes (4,080 pairs, the estimator's chunk), without gradients.

The script checks that both forms give the same relation scores, then reports the
medians and the ratios (split / stacked).

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python benchmarks/relation_module.py

It writes ``benchmarks/results/relation_module.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from skmeta.benchmarks import environment, write_record
from skmeta.metric._relation import _ConvRelation, _feature_map_encoder


def _stacked(module: _ConvRelation, queries: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    n, k = queries.shape[0], classes.shape[0]
    pairs = torch.cat(
        [
            queries.unsqueeze(1).expand(n, k, *queries.shape[1:]),
            classes.unsqueeze(0).expand(n, k, *classes.shape[1:]),
        ],
        dim=2,
    ).flatten(0, 1)
    return module.forward_stacked(pairs).view(n, k)


def _split(module: _ConvRelation, queries: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return module(queries, classes)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    encoder = _feature_map_encoder(1, 64)
    module = _ConvRelation(64, 7, 7, (8,))
    images = torch.rand(80, 1, 28, 28)
    with torch.no_grad():
        maps = encoder(torch.rand(300, 1, 28, 28))  # (300, 64, 7, 7)

    def train(form):
        queries = maps[:75].detach().requires_grad_()
        classes = maps[75:80].detach().requires_grad_()
        form(module, queries, classes).pow(2).mean().backward()

    def episode(form):
        z = encoder(images)
        form(module, z[5:], z[:5]).pow(2).mean().backward()

    def predict(form):
        with torch.no_grad():
            form(module, maps[:204], maps[204:224])

    with torch.no_grad():
        gap = _split(module, maps[:204], maps[204:224]) - _stacked(
            module, maps[:204], maps[204:224]
        )
    max_abs_diff = gap.abs().max().item()
    assert max_abs_diff < 1e-4, max_abs_diff

    cases = {"train_5w1s": train, "episode_5w1s": episode, "predict_20w5s": predict}
    forms = {"stacked": _stacked, "split": _split}
    times = {case: {form: [] for form in forms} for case in cases}
    for r in range(args.repeats + 2):  # the first two rounds warm up
        for case, run in cases.items():
            for form, fn in forms.items():
                tic = time.perf_counter()
                run(fn)
                if r >= 2:
                    times[case][form].append(time.perf_counter() - tic)
    module.zero_grad(set_to_none=True)

    median_ms = {
        case: {form: 1000 * statistics.median(t) for form, t in by_form.items()}
        for case, by_form in times.items()
    }
    ratio = {case: m["split"] / m["stacked"] for case, m in median_ms.items()}
    print(
        f"Relation module on 64x7x7 Omniglot maps, median of {args.repeats} interleaved "
        f"repeats, {torch.get_num_threads()} torch thread(s); max |split - stacked| = "
        f"{max_abs_diff:.2g}"
    )
    for case, m in median_ms.items():
        print(
            f"  {case:<14} stacked {m['stacked']:8.1f} ms   split {m['split']:8.1f} ms   "
            f"ratio {ratio[case]:.2f}x"
        )
    record = {
        "benchmark": "relation_module",
        "config": vars(args) | {"maps": [64, 7, 7], "relation_fc": [8]},
        "results": {
            "median_ms": median_ms,
            "ratio_split_over_stacked": ratio,
            "max_abs_diff": max_abs_diff,
            "all_ms": {
                c: {f: [1000 * x for x in t] for f, t in b.items()} for c, b in times.items()
            },
        },
        **environment(device="cpu"),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "relation_module.json"
    )
    print(f"  record written to {out}")
    return record


if __name__ == "__main__":
    main()
