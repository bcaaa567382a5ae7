"""Where a Conv-4 second-order MAML meta-update spends its time, by operator and pass.

The speed benchmark against `higher` (``benchmarks/maml_speed.py``) finds skmeta within
noise of its peers on Conv-4: all three run the same convolutions. This script says how
much of a meta-update any change to the meta-learning loop could reach. It profiles
`MAMLClassifier(backbone="conv4")` meta-updates in the configuration of that benchmark
(Omniglot 5-way 1-shot, 15 queries per class, 16 tasks per update, one inner step,
second order, transductive batch norm so that the query pass is the queries alone) with
``torch.profiler`` and attributes each ATen operator's own time to

* the **query pass**: operators on the 75 query images (forward at the adapted
  weights, its backward);
* the **support pass**: operators on the 5 support images (the inner step's forward and
  its backward with ``create_graph``, and the outer backward through both);
* **other**: everything else (the optimiser, parameter arithmetic, the loss).

Reported: the share of each, and the convolutions' share. Profiling adds overhead per
operator, so shares, not times, are the result. Run::

    OMP_NUM_THREADS=1 python benchmarks/maml_profile.py

It writes ``benchmarks/results/maml_profile.json``.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from skmeta import MAMLClassifier
from skmeta.benchmarks import environment, reference_step_ms, write_record
from skmeta.datasets import load_omniglot
from skmeta.tasks import EpisodeSampler

N_SUPPORT, N_QUERY = 5, 75


def _pass_of(shapes: list) -> str:
    """The pass an operator belongs to, from the batch size of its first input."""
    first = shapes[0] if shapes else []
    batch = first[0] if first else None
    return {N_SUPPORT: "support", N_QUERY: "query"}.get(batch, "other")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3, help="profiled meta-updates")
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    reference_ms = reference_step_ms()
    X, y = load_omniglot("background")
    tasks = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=15, random_state=0).sample(
        16 * (args.updates + 1)
    )
    est = MAMLClassifier(
        backbone="conv4",
        n_way=5,
        meta_batch_size=16,
        inner_lr=0.4,
        transductive=True,
        batching="loop",
        n_meta_iterations=1,
        random_state=0,
    )
    est.meta_fit(tasks[:16])  # warm-up: the network, first-call allocations
    est.set_params(n_meta_iterations=args.updates)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        est.meta_fit(tasks[16:])

    by_pass: collections.Counter = collections.Counter()
    by_op: collections.Counter = collections.Counter()
    for event in prof.key_averages(group_by_input_shape=True):
        if not event.key.startswith("aten::") or event.self_cpu_time_total <= 0:
            continue
        where = _pass_of(event.input_shapes)
        by_pass[where] += event.self_cpu_time_total
        by_op[(where, event.key)] += event.self_cpu_time_total
    total = sum(by_pass.values())
    shares = {k: by_pass[k] / total for k in ("query", "support", "other")}
    conv_ops = ("aten::convolution_backward", "aten::mkldnn_convolution", "aten::_convolution")
    conv = sum(v for (_, op), v in by_op.items() if op in conv_ops) / total
    top = [
        {"pass": where, "operator": op, "share": v / total}
        for (where, op), v in by_op.most_common(12)
    ]
    print(f"Second-order MAML, Conv-4, 16 tasks per update, {args.updates} updates profiled:")
    for k, v in shares.items():
        print(f"  {k:8s} {100 * v:5.1f}% of operator time")
    print(f"  convolutions (forward and backward, all passes): {100 * conv:.1f}%")
    for row in top:
        print(f"    {100 * row['share']:5.1f}%  {row['pass']:8s} {row['operator']}")

    record = {
        "benchmark": "maml_profile",
        "config": vars(args)
        | {"n_way": 5, "n_shot": 1, "n_query": 15, "meta_batch_size": 16, "second_order": True},
        "results": {"share_by_pass": shares, "share_convolutions": conv, "top_operators": top},
        **environment(device="cpu", reference_ms=reference_ms),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "maml_profile.json"
    )
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
