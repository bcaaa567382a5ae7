"""Meta-training speed on CPU under different memory allocators.

A Conv-4 meta-update on 28x28 Omniglot allocates and frees tensors of several MB (the
first block's feature maps of 80 images are 16 MB each). glibc's ``malloc`` serves them
from its heap but returns the free top of the heap to the system once it exceeds a
threshold (``M_TRIM_THRESHOLD``), so the next step's tensors are faulted in again, page
by page, and zeroed by the kernel. How often that happens depends on the order of
allocations, not on the arithmetic. This script measures it: the same meta-training,
each repeat in a fresh subprocess, under each allocator configuration:

* ``glibc``: the default, as a process that never ran skmeta has it;
* ``glibc_widened``: the default as skmeta's estimators leave it: resolving their device
  to the CPU, they allocate and free one untouched block just under 32 MB once, which
  raises glibc's adaptive thresholds to their ceiling (``mmap`` from 32 MB, trim above
  64 MB free; ``skmeta.nn._allocator._widen_cpu_heap``). Every other configuration runs
  with this switched off, to measure its allocator alone;
* ``glibc_keep``: glibc with ``MALLOC_MMAP_THRESHOLD_=33554432`` (32 MB, glibc's largest)
  and ``MALLOC_TRIM_THRESHOLD_=1073741824``: allocations below 32 MB come from the heap,
  which is trimmed only above 1 GB of free memory (setting the trim threshold alone
  switches off glibc's adaptive mmap threshold and makes every tensor above 128 kB a
  fresh ``mmap``: far worse, measured once in the docs' notes);
* ``jemalloc``: ``LD_PRELOAD=libjemalloc.so.2`` (Debian/Ubuntu: ``apt install
  libjemalloc2``), skipped with a note where the library is absent;
* ``thp``: glibc with ``THP_MEM_ALLOC_ENABLE=1``, torch's option that aligns
  allocations of 2 MB and more to huge pages and asks for them (``madvise``);
* ``keep_cpu_heap``: glibc's defaults at start, then `skmeta.nn.keep_cpu_heap()` called
  by the worker before anything else (the ``glibc_keep`` settings, made from Python).

Workloads (one torch thread): ``protonet``, `ProtoNetClassifier` meta-training on 5-way
1-shot episodes with 15 queries per class (the episodes of
``benchmarks/protonet_vs_easyfsl.py``); ``maml``, second-order `MAMLClassifier` (Conv-4,
one inner step, 4 tasks per meta-update). Each worker meta-trains once to warm up, then
times ``--repeats`` further `meta_fit` calls and reports the median episodes per second,
and its minor page faults and system CPU time per episode over the timed calls. The
configurations run round-robin, ``--rounds`` fresh processes each, in a rotating order.
Reported: the median over rounds, and the ratio of each configuration to ``glibc``.

Run::

    python benchmarks/cpu_allocator.py

It writes ``benchmarks/results/cpu_allocator.json``.
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

_CONFIGS: dict[str, dict[str, str]] = {
    "glibc": {},
    "glibc_widened": {},  # glibc's defaults; the worker leaves skmeta's widening on
    "glibc_keep": {
        "MALLOC_MMAP_THRESHOLD_": "33554432",
        "MALLOC_TRIM_THRESHOLD_": "1073741824",
    },
    "jemalloc": {"LD_PRELOAD": "libjemalloc.so.2"},
    "thp": {"THP_MEM_ALLOC_ENABLE": "1"},
    "keep_cpu_heap": {},  # glibc's defaults at start; the worker calls keep_cpu_heap()
}
_ALLOCATOR_VARIABLES = ("LD_PRELOAD", "THP_MEM_ALLOC_ENABLE")
_WORKER_OPTIONS = ("worker", "n_iter", "keep_cpu_heap", "widen")


def _estimator(workload: str, n_iter: int):
    from skmeta import MAMLClassifier, ProtoNetClassifier

    if workload == "protonet":
        return ProtoNetClassifier(
            backbone="conv4", n_way=5, n_shot=1, n_query=15, meta_lr=1e-3,
            n_meta_iterations=n_iter, device="cpu", random_state=0,
        )  # fmt: skip
    return MAMLClassifier(
        backbone="conv4", n_way=5, n_shot=1, n_query=15, meta_batch_size=4, inner_lr=0.4,
        n_meta_iterations=n_iter, device="cpu", random_state=0,
    )  # fmt: skip


def _worker(workload: str, n_iter: int, repeats: int, keep_heap: bool, widen: bool) -> dict:
    import torch

    if not widen:
        from skmeta.nn import _allocator

        _allocator._heap_widened = True  # as if done already: skmeta leaves glibc alone

    if keep_heap:
        from skmeta.nn import keep_cpu_heap

        if not keep_cpu_heap():
            raise RuntimeError("keep_cpu_heap() found no glibc to configure")

    from skmeta.datasets import load_omniglot
    from skmeta.tasks import EpisodeSampler

    torch.set_num_threads(1)
    X, y = load_omniglot("train")
    per_update = 1 if workload == "protonet" else 4
    episodes = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=15, random_state=0).sample(
        n_iter * per_update
    )
    _estimator(workload, n_iter).meta_fit(episodes)  # warm-up
    rates, faults, system = [], 0, 0.0
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF)
        tic = time.perf_counter()
        _estimator(workload, n_iter).meta_fit(episodes)
        elapsed = time.perf_counter() - tic
        after = resource.getrusage(resource.RUSAGE_SELF)
        rates.append(len(episodes) / elapsed)
        faults += after.ru_minflt - before.ru_minflt
        system += after.ru_stime - before.ru_stime
    n = repeats * len(episodes)
    return {
        "episodes_per_second": statistics.median(rates),
        "minor_faults_per_episode": faults / n,
        "system_ms_per_episode": 1e3 * system / n,
    }


def _run_worker(workload: str, config: str, args: argparse.Namespace) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    for k in _ALLOCATOR_VARIABLES:
        env.pop(k, None)
    env |= _CONFIGS[config] | {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    n_iter = args.protonet_updates if workload == "protonet" else args.maml_updates
    cmd = [sys.executable, __file__, "--worker", workload, "--n-iter", str(n_iter)]
    cmd += ["--repeats", str(args.repeats)]
    if config == "keep_cpu_heap":
        cmd.append("--keep-cpu-heap")
    if config == "glibc_widened":
        cmd.append("--widen")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{workload} under {config} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=["protonet", "maml"])
    parser.add_argument("--configs", nargs="+", default=list(_CONFIGS), choices=list(_CONFIGS))
    parser.add_argument("--rounds", type=int, default=5, help="fresh processes per config")
    parser.add_argument("--repeats", type=int, default=3, help="timed meta_fit calls a process")
    parser.add_argument("--protonet-updates", type=int, default=20)
    parser.add_argument("--maml-updates", type=int, default=5)
    parser.add_argument("--output", default=None, help="JSON file (default: benchmarks/results/)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--n-iter", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--keep-cpu-heap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--widen", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker = _worker(args.worker, args.n_iter, args.repeats, args.keep_cpu_heap, args.widen)
        print(json.dumps(worker))
        return {}

    from skmeta.benchmarks import environment, write_record

    configs = list(args.configs)
    skipped = {}
    if "jemalloc" in configs and ctypes.util.find_library("jemalloc") is None:
        configs.remove("jemalloc")
        skipped["jemalloc"] = "libjemalloc not found (apt install libjemalloc2)"
    runs: dict[str, dict[str, list[dict]]] = {w: {c: [] for c in configs} for w in args.workloads}
    for r in range(args.rounds):
        order = configs[r % len(configs) :] + configs[: r % len(configs)]
        for workload in args.workloads:
            for config in order:
                runs[workload][config].append(_run_worker(workload, config, args))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    results: dict[str, dict] = {}
    for workload, by_config in runs.items():
        summary = {
            config: {
                key: statistics.median(run[key] for run in rounds)
                for key in (
                    "episodes_per_second",
                    "minor_faults_per_episode",
                    "system_ms_per_episode",
                )
            }
            for config, rounds in by_config.items()
        }
        base = summary["glibc"]["episodes_per_second"] if "glibc" in summary else None
        for values in summary.values():
            values["ratio_to_glibc"] = values["episodes_per_second"] / base if base else None
        results[workload] = {"median": summary, "all_rounds": by_config}
        print(f"{workload}: episodes/s, median of {args.rounds} processes per configuration")
        for config, v in summary.items():
            ratio = f"{v['ratio_to_glibc']:.3f}x" if v["ratio_to_glibc"] else "-"
            print(
                f"  {config:<13} {v['episodes_per_second']:7.2f} episodes/s  {ratio:>7}  "
                f"{v['minor_faults_per_episode']:9.0f} page faults/episode  "
                f"{v['system_ms_per_episode']:6.1f} ms system/episode"
            )

    record = {
        "benchmark": "cpu_allocator",
        "config": {k: v for k, v in vars(args).items() if k not in _WORKER_OPTIONS}
        | {"allocator_environment": {c: _CONFIGS[c] for c in configs}, "skipped": skipped},
        "results": results,
        **environment(device="cpu"),
    }
    out = write_record(
        record, args.output or Path(__file__).parent / "results" / "cpu_allocator.json"
    )
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
