"""Conv-4 in the channels-last layout against the default (contiguous) layout.

One run, one machine, the two layouts interleaved (each repeat times both, in
alternating order), same weights and same images:

* ``forward+backward``: a ProtoNet meta-training step's network work, a forward and a
  backward pass over a 60-way 1-shot episode with 5 queries per class (360 images of
  28x28), as in Snell et al.'s Omniglot protocol;
* ``second-order MAML``: one task of 5-way 1-shot MAML (5 support, 75 query images),
  one inner step with ``create_graph=True`` and the outer backward pass.

Reported: median milliseconds per step for each layout and the ratio
channels-last / contiguous (below 1 is faster). Run::

    OMP_NUM_THREADS=1 python benchmarks/conv4_layout.py
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from skmeta.nn import Conv4


def _protonet_step(net: Conv4, x: torch.Tensor) -> None:
    net.zero_grad(set_to_none=True)
    net(x).pow(2).mean().backward()


def _maml_step(net: Conv4, head: torch.Tensor, x_s, y_s, x_q, y_q) -> None:
    params = dict(net.named_parameters())
    params["head"] = head

    def loss(p, x, y):
        emb = torch.func.functional_call(net, {k: v for k, v in p.items() if k != "head"}, (x,))
        return F.cross_entropy(emb @ p["head"], y)

    grads = torch.autograd.grad(loss(params, x_s, y_s), list(params.values()), create_graph=True)
    fast = {k: v - 0.4 * g for (k, v), g in zip(params.items(), grads)}
    loss(fast, x_q, y_q).backward()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    nets = {"contiguous": Conv4(channels_last=False), "channels_last": Conv4(channels_last=True)}
    nets["channels_last"].load_state_dict(nets["contiguous"].state_dict())
    head = torch.randn(64, 5, requires_grad=True)
    episode = torch.rand(360, 1, 28, 28)
    x_s, x_q = torch.rand(5, 1, 28, 28), torch.rand(75, 1, 28, 28)
    y_s, y_q = torch.arange(5), torch.arange(5).repeat_interleave(15)
    with torch.no_grad():
        a, b = (nets[k](episode) for k in ("contiguous", "channels_last"))
        same = torch.allclose(a, b, atol=1e-4)
    if not same:
        raise AssertionError("the two layouts give different embeddings")

    steps = {
        "forward+backward, 360 images": lambda net: _protonet_step(net, episode),
        "second-order MAML, 5-way 1-shot task": lambda net: _maml_step(
            net, head, x_s, y_s, x_q, y_q
        ),
    }
    results = {}
    for name, step in steps.items():
        times: dict[str, list[float]] = {k: [] for k in nets}
        for k in nets:  # warm-up
            step(nets[k])
        for r in range(args.repeats):
            order = list(nets) if r % 2 == 0 else list(reversed(nets))
            for k in order:
                tic = time.perf_counter()
                step(nets[k])
                times[k].append(time.perf_counter() - tic)
        med = {k: 1000 * statistics.median(v) for k, v in times.items()}
        results[name] = {
            "median_ms": med,
            "ratio_channels_last_over_contiguous": med["channels_last"] / med["contiguous"],
        }
        ratio = results[name]["ratio_channels_last_over_contiguous"]
        print(
            f"{name}: contiguous {med['contiguous']:.1f} ms, channels-last "
            f"{med['channels_last']:.1f} ms, ratio {ratio:.2f}"
        )
    record = {
        "benchmark": "conv4_layout",
        "results": results,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "command": "OMP_NUM_THREADS=1 python benchmarks/conv4_layout.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    out = Path(args.output or Path(__file__).parent / "results" / "conv4_layout.json")
    out.write_text(json.dumps(record, indent=2))
    return record


if __name__ == "__main__":
    main()
