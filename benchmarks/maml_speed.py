"""Meta-training speed of MAML: skmeta against `higher` and a plain per-task loop.

Same network, same episodes, same machine, one run. Each method runs in its own
subprocess (so that peak memory is its own) and performs second-order MAML meta-updates
with one inner SGD step and an Adam outer step:

* ``skmeta``: `MAMLClassifier` / `MAMLRegressor` (``batching="auto"``: vmap for the MLP,
  a loop for Conv-4 on CPU), plus the other batching forced, for the record;
* ``higher``: ``higher.innerloop_ctx`` per task (PyPI ``higher`` 0.2.1, the usual way to
  write MAML on torch);
* ``loop``: a hand-written per-task loop with ``torch.autograd.grad(create_graph=True)``
  on a parameter dict.

Configurations: the sinusoid MLP (1-40-40-1, 25 tasks of 10 + 10 points per meta-update)
and Conv-4 on 28x28 Omniglot 5-way 1-shot (15 queries per class, 16 tasks per update).
Batch normalisation is transductive here (queries take their own batch statistics) so
that all three methods compute exactly the same function. Reported: median tasks per
second over repeats (methods run round-robin, each repeat in a fresh subprocess), peak
resident memory above the pre-training baseline, and ratios.

Run (``higher`` is not a dependency of skmeta: install it first)::

    pip install higher==0.2.1
    OMP_NUM_THREADS=1 python benchmarks/maml_speed.py
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from skmeta.benchmarks import environment, write_record


def _tasks(config: str, n: int) -> list:
    if config == "mlp":
        from skmeta.datasets import SinusoidTasks

        return SinusoidTasks(n_support=10, n_query=10, random_state=0).sample(n)
    from skmeta.datasets import load_omniglot
    from skmeta.tasks import EpisodeSampler

    X, y = load_omniglot("background")
    return EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=15, random_state=0).sample(n)


def _estimator(config: str, batching: str):
    from skmeta import MAMLClassifier, MAMLRegressor

    if config == "mlp":
        return MAMLRegressor(meta_batch_size=25, batching=batching, random_state=0)
    return MAMLClassifier(
        backbone="conv4",
        n_way=5,
        meta_batch_size=16,
        inner_lr=0.4,
        transductive=True,
        batching=batching,
        random_state=0,
    )


def _run_skmeta(config: str, batching: str, tasks: list, n_iter: int) -> list[float]:
    est = _estimator(config, batching).set_params(n_meta_iterations=n_iter)
    est.meta_fit(tasks)
    return [h["time"] for h in est.meta_history_]


def _run_manual(config: str, method: str, tasks: list, n_iter: int) -> list[float]:
    """The same model and updates written with `higher`, or as a plain autograd loop."""
    est = _estimator(config, "loop").set_params(n_meta_iterations=1)
    est.meta_fit(tasks[: est.meta_batch_size])  # builds the identical network
    net = est.network_
    shape = est.net_input_shape_
    classify = config != "mlp"
    lr = est.inner_lr
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def loss_fn(out, y):
        return F.cross_entropy(out, y) if classify else F.mse_loss(out.squeeze(-1), y)

    def tensors(t):
        x_s = torch.as_tensor(t.X_support, dtype=torch.float32).reshape(-1, *shape)
        x_q = torch.as_tensor(t.X_query, dtype=torch.float32).reshape(-1, *shape)
        if classify:
            return x_s, torch.as_tensor(t.y_support), x_q, torch.as_tensor(t.y_query)
        return (
            x_s,
            torch.as_tensor(t.y_support, dtype=torch.float32),
            x_q,
            torch.as_tensor(t.y_query, dtype=torch.float32),
        )

    if method == "higher":
        import higher

        inner_opt = torch.optim.SGD(net.parameters(), lr=lr)

    times = []
    batch = est.meta_batch_size
    for i in range(n_iter):
        chunk = [tasks[(i * batch + j) % len(tasks)] for j in range(batch)]
        tic = time.perf_counter()
        opt.zero_grad()
        for t in chunk:
            x_s, y_s, x_q, y_q = tensors(t)
            if method == "higher":
                with higher.innerloop_ctx(net, inner_opt, copy_initial_weights=False) as (f, d):
                    d.step(loss_fn(f(x_s), y_s))
                    (loss_fn(f(x_q), y_q) / batch).backward()
            else:
                params = dict(net.named_parameters())
                grads = torch.autograd.grad(
                    loss_fn(torch.func.functional_call(net, params, (x_s,)), y_s),
                    list(params.values()),
                    create_graph=True,
                )
                fast = {k: v - lr * g for (k, v), g in zip(params.items(), grads)}
                out = torch.func.functional_call(net, fast, (x_q,))
                (loss_fn(out, y_q) / batch).backward()
        opt.step()
        times.append(time.perf_counter() - tic)
    return times


def _child(config: str, method: str, n_iter: int) -> dict:
    tasks = _tasks(config, 64)
    batch = 25 if config == "mlp" else 16
    run = (
        (lambda n: _run_skmeta(config, method.split(":")[1], tasks, n))
        if method.startswith("skmeta")
        else (lambda n: _run_manual(config, method, tasks, n))
    )
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run(1)  # warm-up: imports, first-call allocations
    times = run(n_iter)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "tasks_per_second": batch * len(times) / sum(times),
        "peak_rss_above_baseline_mb": (peak - base_rss) / 1024,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["mlp", "conv4"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.child:
        config, method, n_iter = args.child
        print(json.dumps(_child(config, method, int(n_iter))))
        return {}

    methods = ["skmeta:auto", "skmeta:vmap", "skmeta:loop", "higher", "loop"]
    iters = {"mlp": 20, "conv4": 3}
    results: dict = {}
    for config in args.configs:
        runs: dict = {m: [] for m in methods}
        # Round-robin over the methods, one subprocess per (repeat, method): load from
        # other processes on a shared machine then falls on every method alike.
        for _ in range(args.repeats):
            for method in methods:
                out = subprocess.run(
                    [sys.executable, __file__, "--child", config, method, str(iters[config])],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                runs[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
        results[config] = {}
        for method in methods:
            speeds = [r["tasks_per_second"] for r in runs[method]]
            memory = [r["peak_rss_above_baseline_mb"] for r in runs[method]]
            results[config][method] = {
                "tasks_per_second": statistics.median(speeds),
                "all_repeats": speeds,
                "peak_rss_above_baseline_mb": statistics.median(memory),
            }
            r = results[config][method]
            print(
                f"{config:6s} {method:12s} {r['tasks_per_second']:8.1f} tasks/s  "
                f"peak +{r['peak_rss_above_baseline_mb']:.0f} MB",
                flush=True,
            )
        ours = results[config]["skmeta:auto"]
        for peer in ("higher", "loop"):
            p = results[config][peer]
            ratio = ours["tasks_per_second"] / p["tasks_per_second"]
            results[config][f"speedup_vs_{peer}"] = ratio
            mem = ours["peak_rss_above_baseline_mb"] / max(p["peak_rss_above_baseline_mb"], 1e-9)
            results[config][f"memory_ratio_vs_{peer}"] = mem
            print(
                f"{config:6s} skmeta/{peer}: {ratio:.2f}x the speed, {mem:.2f}x the memory",
                flush=True,
            )

    record = {
        "benchmark": "maml_speed",
        "config": {
            "repeats": args.repeats,
            "iterations_per_repeat": iters,
            "second_order": True,
            "inner_steps": 1,
            "transductive": True,
        },
        "results": results,
        **environment("cpu"),
    }
    default = Path(__file__).parent / "results" / "maml_speed.json"
    out = Path(args.output) if args.output else default
    write_record(record, out)
    print(f"record written to {out}")
    return record


if __name__ == "__main__":
    main()
