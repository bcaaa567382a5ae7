"""Conv-4's memory layout and block order: what each costs.

Three versions of the same function, same weights and images, one run, interleaved
(each repeat times all three, in rotating order):

* ``relu-pool, contiguous``: conv, norm, ReLU, max-pool blocks in the default layout
  (skmeta's Conv-4 until this benchmark);
* ``pool-relu, contiguous``: the max-pool before the ReLU (max and ReLU commute, so the
  outputs are equal and the ReLU touches a quarter of the values);
* ``pool-relu, channels-last``: the same in the NHWC layout (``Conv4()`` now).

Two steps:

* ``forward+backward``: a ProtoNet meta-training step's network work, a forward and a
  backward pass over a 60-way 1-shot episode with 5 queries per class (360 images of
  28x28), as in Snell et al.'s Omniglot protocol;
* ``second-order MAML``: one task of 5-way 1-shot MAML (5 support, 75 query images),
  one inner step with ``create_graph=True`` and the outer backward pass.

Reported: median milliseconds per step of each version and its ratio to the first
(below 1 is faster). Run::

    OMP_NUM_THREADS=1 python benchmarks/conv4_layout.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from skmeta.benchmarks import environment, write_record
from skmeta.nn import Conv4


def _relu_before_pool(net: Conv4) -> Conv4:
    """The block order conv, norm, ReLU, max-pool (swaps each pool with the ReLU after it)."""
    for i, m in enumerate(list(net)):
        if isinstance(m, torch.nn.MaxPool2d):
            net[i], net[i + 1] = net[i + 1], net[i]
    return net


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
    nets = {
        "relu-pool, contiguous": _relu_before_pool(Conv4(channels_last=False)),
        "pool-relu, contiguous": Conv4(channels_last=False),
        "pool-relu, channels-last": Conv4(channels_last=True),
    }
    reference = next(iter(nets))
    for net in nets.values():
        net.load_state_dict(nets[reference].state_dict())
    head = torch.randn(64, 5, requires_grad=True)
    episode = torch.rand(360, 1, 28, 28)
    x_s, x_q = torch.rand(5, 1, 28, 28), torch.rand(75, 1, 28, 28)
    y_s, y_q = torch.arange(5), torch.arange(5).repeat_interleave(15)
    with torch.no_grad():
        expected = nets[reference](episode)
        for name, net in nets.items():
            if not torch.allclose(net(episode), expected, atol=1e-4):
                raise AssertionError(f"{name} gives other embeddings than {reference}")

    steps = {
        "forward+backward, 360 images": lambda net: _protonet_step(net, episode),
        "second-order MAML, 5-way 1-shot task": lambda net: _maml_step(
            net, head, x_s, y_s, x_q, y_q
        ),
    }
    results = {}
    names = list(nets)
    for step_name, step in steps.items():
        times: dict[str, list[float]] = {k: [] for k in nets}
        for k in nets:  # warm-up
            step(nets[k])
        for r in range(args.repeats):
            for k in names[r % 3 :] + names[: r % 3]:
                tic = time.perf_counter()
                step(nets[k])
                times[k].append(time.perf_counter() - tic)
        med = {k: 1000 * statistics.median(v) for k, v in times.items()}
        results[step_name] = {
            "median_ms": med,
            "ratio_to_" + reference: {k: v / med[reference] for k, v in med.items()},
        }
        print(step_name)
        for k, v in med.items():
            print(f"  {k:26s} {v:7.1f} ms  {v / med[reference]:.2f}x")
    record = {
        "benchmark": "conv4_layout",
        "results": results,
        "config": vars(args),
        **environment("cpu"),
    }
    out = Path(args.output or Path(__file__).parent / "results" / "conv4_layout.json")
    write_record(record, out)
    return record


if __name__ == "__main__":
    main()
