"""Meta-training speed: `ProtoNetClassifier` against easyfsl's `PrototypicalNetworks`.

Same Conv-4 encoder (`skmeta.nn.Conv4()`: 4 x [3x3 conv 64, batch norm, 2x2 max-pool,
ReLU], weights and feature maps channels-last, its forward converting the input; two
seeded draws of its initial weights: the kernels' cost does not depend on the values),
same Omniglot episodes (28x28, the embedded copy of the Vinyals train split; 5-way
1-shot with 15 queries per class by default), both fed the same NCHW tensors,
the same loss (cross-entropy of the queries' logits over the prototypes, the class
means of the support embeddings), the same optimiser (``torch.optim.Adam`` at lr 1e-3,
torch's default implementation, gradients set to None between steps), both in training
mode (batch statistics; Conv-4 has no dropout), one process, one machine:

* ``skmeta``: ``ProtoNetClassifier(backbone="conv4").meta_fit(episodes)``, timed as a
  whole (network construction, task preparation, the meta-training loop);
* ``skmeta_transductive``: the same with ``transductive=True``;
* ``easyfsl``: easyfsl's episodic training loop as its documentation writes it
  (``process_support_set`` on the support, the model on the queries, cross-entropy,
  ``backward``, ``step``), timed with the model and optimiser construction and the
  numpy-to-tensor conversion of each episode.

What differs, each the library's default model:

* the logits: easyfsl scores a query by its negative Euclidean distance to each
  prototype (``-torch.cdist``), skmeta by the negative squared Euclidean distance (the
  paper's, ``-torch.cdist(...).pow(2)``): a 75 x 5 matrix, microseconds either way;
* the normalisation: easyfsl embeds support and queries in two passes (5 then 75
  images) whose batch normalisation takes the statistics of each set, so a query's
  embedding depends on the other queries. skmeta by default (``transductive=False``)
  also makes two passes, but normalises the queries' pass with the statistics of the
  support set (`skmeta.nn.carry_statistics`), so that a query depends on the support
  alone; ``transductive=True`` embeds the 80 images in one pass, normalised with the
  statistics of support and queries together;
* skmeta also counts the queries' correct predictions for ``meta_history_``.

The methods run round-robin, one round of ``--episodes`` episodes each, in a rotating
order; reported: the median episodes per second over the rounds, and the ratios to
easyfsl (target: at least 1). By default all rounds run in one process. With
``--processes`` every round of every method runs in a fresh process (data loading and
one warm-up run, then the timed run): glibc's heap is laid out anew each time, so the
rounds sample how each side fares against the heap trimming described below, rather
than following the one layout a long process settles into.

easyfsl imports torchvision, which installs beside skmeta's CPU torch 2.13.0 only as the
pair torch 2.14.1 / torchvision 0.29.1 (PyPI's torchvision 0.28.0 does not load beside
it), so the benchmark has an environment of its own, outside the repo, with skmeta
installed into it: both sides then run on the same torch. On x86-64 Linux, PyPI's torch
2.14.1 is a CUDA build (about 5.5 GB in the environment, nvidia-* wheels included; it
runs on the CPU as well); on this project's machines pip takes it from the local disk,
elsewhere add ``--index-url https://download.pytorch.org/whl/cpu`` to the first install
for the CPU build::

    python -m venv /work/venv-easyfsl
    /work/venv-easyfsl/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/venv-easyfsl/bin/pip install easyfsl
    /work/venv-easyfsl/bin/pip install -e /work/main --no-deps
    /work/venv-easyfsl/bin/pip install numpy scikit-learn scipy skorch optuna tqdm

The memory allocator changes the figures by up to a fifth (see
``benchmarks/cpu_allocator.py``): glibc's default returns freed heap memory to the system
depending on the order and sizes of allocations, and each side's pattern decides how many
pages it faults in again. The record gives, for each side, the minor page faults and the system
CPU time per episode, and the allocator settings of the run (``machine.allocator``); the
docs report runs with glibc's defaults (in one process, and with ``--processes``) and
one with its heap kept (``MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TRIM_THRESHOLD_=1073741824``), which takes the page faults out of both sides.

skmeta's estimators, when they resolve their device to the CPU, raise glibc's adaptive
heap thresholds once per process (they allocate and free one untouched block just under
32 MB; ``skmeta.nn._allocator._widen_cpu_heap``), which easyfsl does not. With
``--processes`` only skmeta's processes have it; in one process, easyfsl's rounds run on
the heap that skmeta's first run widened. ``--plain-heap`` switches it off, for the
comparison of the two loops alone.

Run::

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 /work/venv-easyfsl/bin/python \\
        benchmarks/protonet_vs_easyfsl.py

It writes ``benchmarks/results/protonet_vs_easyfsl.json``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from easyfsl.methods import PrototypicalNetworks
from torch import nn

from skmeta import ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import load_omniglot
from skmeta.nn import Conv4
from skmeta.tasks import EpisodeSampler


def _run_skmeta(episodes: list, args: argparse.Namespace, transductive: bool) -> float:
    clf = ProtoNetClassifier(
        transductive=transductive,
        backbone="conv4",
        n_way=args.n_way,
        n_shot=args.n_shot,
        n_query=args.n_query,
        meta_lr=1e-3,
        n_meta_iterations=len(episodes),
        device="cpu",
        random_state=0,
    )
    tic = time.perf_counter()
    clf.meta_fit(episodes)
    return time.perf_counter() - tic


def _run_easyfsl(episodes: list, encoder: nn.Module) -> float:
    tic = time.perf_counter()
    model = PrototypicalNetworks(copy.deepcopy(encoder))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for task in episodes:
        support = torch.as_tensor(task.X_support).unsqueeze(1)
        query = torch.as_tensor(task.X_query).unsqueeze(1)
        optimizer.zero_grad()
        model.process_support_set(support, torch.as_tensor(task.y_support))
        loss = loss_fn(model(query), torch.as_tensor(task.y_query))
        loss.backward()
        optimizer.step()
    return time.perf_counter() - tic


_METHODS = ("skmeta", "skmeta_transductive", "easyfsl")


def _runs(args: argparse.Namespace) -> dict:
    """The three timed runs over the same episodes and initial encoder."""
    X, y = load_omniglot("train")
    sampler = EpisodeSampler(
        X, y, n_way=args.n_way, n_shot=args.n_shot, n_query=args.n_query, random_state=0
    )
    episodes = sampler.sample(args.episodes)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        encoder = Conv4(in_channels=1)
    return {
        "skmeta": lambda: _run_skmeta(episodes, args, transductive=False),
        "skmeta_transductive": lambda: _run_skmeta(episodes, args, transductive=True),
        "easyfsl": lambda: _run_easyfsl(episodes, encoder),
    }


def _timed(run, n_episodes: int) -> dict[str, float]:
    """Episodes per second of one run, and its minor page faults and system CPU time
    per episode."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    seconds = run()
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "episodes_per_second": n_episodes / seconds,
        "minor_faults_per_episode": (after.ru_minflt - before.ru_minflt) / n_episodes,
        "system_ms_per_episode": 1e3 * (after.ru_stime - before.ru_stime) / n_episodes,
    }


def _in_fresh_process(name: str, argv: list[str]) -> dict[str, float]:
    """`_timed` of one method in a new interpreter (same options and environment)."""
    argv = [a for a in argv if a != "--processes"]
    out = subprocess.run(
        [sys.executable, __file__, *argv, "--worker", name],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-way", type=int, default=5)
    parser.add_argument("--n-shot", type=int, default=1)
    parser.add_argument("--n-query", type=int, default=15)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per round")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="run each method in a fresh process every round (see the module docstring)",
    )
    parser.add_argument(
        "--plain-heap",
        action="store_true",
        help="switch off the one-time widening of glibc's heap thresholds that skmeta's "
        "estimators do on the CPU (see the module docstring)",
    )
    parser.add_argument("--worker", choices=_METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.plain_heap:
        from skmeta.nn import _allocator

        _allocator._heap_widened = True  # as if done already: skmeta leaves glibc alone

    if args.worker is not None:  # one method, one timed run, in this fresh process
        runs = _runs(args)
        runs[args.worker]()  # warm-up
        print(json.dumps(_timed(runs[args.worker], args.episodes)))
        return {}
    runs = {} if args.processes else _runs(args)
    for run in runs.values():  # warm-up
        run()
    rates: dict[str, list[float]] = {name: [] for name in _METHODS}
    faults: dict[str, list[float]] = {name: [] for name in _METHODS}
    system: dict[str, list[float]] = {name: [] for name in _METHODS}
    for r in range(args.rounds):
        names = list(_METHODS)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            if args.processes:
                result = _in_fresh_process(name, argv if argv is not None else sys.argv[1:])
            else:
                result = _timed(runs[name], args.episodes)
            rates[name].append(result["episodes_per_second"])
            faults[name].append(result["minor_faults_per_episode"])
            system[name].append(result["system_ms_per_episode"])

    median = {name: statistics.median(v) for name, v in rates.items()}
    ratio = median["skmeta"] / median["easyfsl"]
    ratio_transductive = median["skmeta_transductive"] / median["easyfsl"]
    setting = f"{args.n_way}-way {args.n_shot}-shot, {args.n_query} queries per class"
    print(
        f"Meta-training episodes per second, Omniglot {setting}, Conv-4 28x28, median of "
        f"{args.rounds} rounds of {args.episodes} episodes, {torch.get_num_threads()} "
        "torch thread(s):"
    )
    for name, value in median.items():
        print(
            f"  {name:<20} {value:8.2f} episodes/s  "
            f"{statistics.median(faults[name]):8.0f} page faults/episode  "
            f"{statistics.median(system[name]):6.1f} ms system/episode"
        )
    print(f"  ratio skmeta / easyfsl: {ratio:.3f}x  (target >= 1.0x)")
    print(f"  ratio skmeta_transductive / easyfsl: {ratio_transductive:.3f}x")

    record = {
        "benchmark": "protonet_vs_easyfsl",
        "config": vars(args)
        | {
            "backbone": "skmeta.nn.Conv4(in_channels=1) (channels-last), each seeded",
            "image_size": 28,
            "optimizer": "Adam, lr 1e-3",
            "easyfsl_normalisation": "batch statistics of the support, then of the queries",
            "logits": "easyfsl: -Euclidean distance; skmeta: -squared Euclidean distance",
            "split": "train (embedded copy)",
        },
        "results": {
            "median_episodes_per_second": median,
            "ratio": ratio,
            "ratio_transductive": ratio_transductive,
            "target_ratio": 1.0,
            "median_minor_faults_per_episode": {k: statistics.median(v) for k, v in faults.items()},
            "median_system_ms_per_episode": {k: statistics.median(v) for k, v in system.items()},
            "all_rounds": rates,
            "all_rounds_minor_faults_per_episode": faults,
        },
        **environment(device="cpu"),
    }
    record["versions"]["easyfsl"] = importlib.metadata.version("easyfsl")
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "protonet_vs_easyfsl.json"
    )
    print(f"  record written to {out}")
    return record


if __name__ == "__main__":
    main()
