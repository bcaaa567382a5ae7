"""Warm-started against cold-started hyper-parameter search on new task families.

Two settings, each leave-one-family-out: the searches on the other families are the
earlier studies (the P(θ_i, t_j) table), and a new search on the held-out family starts
either cold (TPE from scratch) or warm (`WarmStart`, "similar" and "portfolio"), with the
same TPE seed. Over repeated seeds we record the best-so-far score after every trial, and
report the number of trials a run needs to match what the cold start reaches with its
whole budget (the median over seeds of its final best score on that family), and the
normalised regret of the best-so-far after 1, 3 and all trials; medians over seeds and
families.

* ``linear``: the designed family `skmeta.datasets.LinearTasks` at input scales 0.25 to 8,
  searched with a linear `MAMLRegressor` over ``inner_lr`` and ``meta_lr``. The best
  inner step size shrinks as 1 / scale², so families want different settings and their
  meta-features (input spread) tell them apart.
* ``omniglot``: Omniglot alphabets (Lake split "background", 14x14 pixels by 2x2 average
  pooling of the embedded 28x28 images) as task families, 5-way 1-shot `ProtoNetClassifier`
  (MLP encoder) over ``meta_lr`` and ``embed_dim``; each alphabet's characters are split
  into meta-training and validation classes.

Run (27 minutes on one thread of a 2-core machine shared with other jobs)::

    OMP_NUM_THREADS=1 python benchmarks/search_warmstart.py --setting linear omniglot

Writes ``benchmarks/results/search_warmstart.json`` and ``search_warmstart.png``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna

from skmeta import MAMLRegressor, ProtoNetClassifier
from skmeta.benchmarks import environment, write_record
from skmeta.datasets import LinearTasks, load_omniglot
from skmeta.search import MetaSearch, WarmStart, open_storage
from skmeta.tasks import EpisodeSampler

RESULTS = Path(__file__).parent / "results"
STRATEGIES = ("cold", "similar", "portfolio")


# --------------------------------------------------------------------------- settings
def linear_setting():
    families = {f"scale-{s}": s for s in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)}

    def tasks(name, seed):
        scale = families[name]
        train = LinearTasks(input_scale=scale, random_state=seed)
        val = LinearTasks(input_scale=scale, n_tasks=20, random_state=10_000 + seed)
        return train, val

    estimator = MAMLRegressor(
        hidden_layer_sizes=(), n_meta_iterations=60, meta_batch_size=5, random_state=0
    )
    space = {"inner_lr": (1e-4, 3.0, "log"), "meta_lr": (1e-3, 0.1, "log")}
    return families, tasks, estimator, space


def omniglot_setting(n_families=8):
    data = load_omniglot("background", return_X_y=False)
    X = data.data.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)
    alphabets = np.asarray(data.alphabet)
    names, counts = np.unique(alphabets, return_counts=True)
    # The alphabets with the most characters, so that each has enough validation classes.
    chosen = [str(n) for n in names[np.argsort(-counts, kind="stable")][:n_families]]

    def tasks(name, seed):
        rows = alphabets == name
        Xa, ya = X[rows], data.target[rows]
        classes = np.random.default_rng(0).permutation(np.unique(ya))
        cut = int(0.6 * classes.shape[0])
        tr, va = np.isin(ya, classes[:cut]), np.isin(ya, classes[cut:])
        train = EpisodeSampler(Xa[tr], ya[tr], n_way=5, n_shot=1, n_query=5, random_state=seed)
        val = EpisodeSampler(
            Xa[va], ya[va], n_way=5, n_shot=1, n_query=5, n_episodes=30, random_state=10_000
        )
        return train, val

    estimator = ProtoNetClassifier(
        backbone="mlp", hidden_layer_sizes=(64,), n_meta_iterations=40, random_state=0
    )
    space = {"meta_lr": (1e-4, 0.1, "log"), "embed_dim": (4, 128, "log")}
    return {n: n for n in chosen}, tasks, estimator, space


SETTINGS = {"linear": linear_setting, "omniglot": omniglot_setting}


# --------------------------------------------------------------------------- runs
def run_search(
    estimator, space, train, val, n_trials, seed, warm_start=None, storage=None, name=None
):
    search = MetaSearch(
        estimator,
        space,
        n_trials=n_trials,
        pruner=None,  # compare whole trials: pruning would blur the count of trials
        storage=storage,
        study_name=name,
        load_if_exists=False,
        warm_start=warm_start,
        refit=False,
        random_state=seed,
    )
    search.fit(train, validation_tasks=val)
    values = [t.value for t in sorted(search.study_.trials, key=lambda t: t.number)]
    return np.maximum.accumulate(values)


def trials_to_reach(curve, target):
    hit = np.flatnonzero(curve >= target)
    return int(hit[0]) + 1 if hit.size else len(curve) + 1


def run_setting(setting, n_earlier, n_trials, n_seeds, n_configs, workdir):
    families, make_tasks, estimator, space = SETTINGS[setting]()
    storage = open_storage(workdir / f"{setting}-earlier.db")
    tic = time.perf_counter()
    for name in families:  # the earlier searches, one per family
        train, val = make_tasks(name, 0)
        run_search(estimator, space, train, val, n_earlier, 0, storage=storage, name=name)
    earlier_time = time.perf_counter() - tic

    curves = {s: {} for s in STRATEGIES}
    for target in families:
        others = [n for n in families if n != target]
        for seed in range(1, n_seeds + 1):
            train, val = make_tasks(target, seed)
            for strategy in STRATEGIES:
                ws = None
                if strategy != "cold":
                    ws = WarmStart(others, strategy=strategy, n_configs=n_configs, storage=storage)
                curve = run_search(estimator, space, train, val, n_trials, seed, warm_start=ws)
                curves[strategy].setdefault(target, []).append(curve.tolist())
        print(
            setting,
            target,
            {s: round(float(np.median([c[-1] for c in curves[s][target]])), 4) for s in curves},
            flush=True,
        )

    summary = summarise(curves, list(families), n_trials)
    return {
        "families": list(families),
        "n_earlier_trials": n_earlier,
        "n_trials": n_trials,
        "n_seeds": n_seeds,
        "n_configs": n_configs,
        "earlier_searches_seconds": earlier_time,
        "summary": summary,
        "curves": curves,
    }


def normalised_regret(curves, family):
    """Best-so-far curves of every strategy on one family, as regret in [0, 1]: 0 is the
    best score any run found on the family, 1 the worst first trial of any run."""
    runs = [np.asarray(c) for s in STRATEGIES for c in curves[s][family]]
    best, worst = max(r.max() for r in runs), min(r[0] for r in runs)
    span = max(best - worst, 1e-12)
    return {s: [(best - np.asarray(c)) / span for c in curves[s][family]] for s in STRATEGIES}


def summarise(curves, families, n_trials):
    """Trials needed to match what a cold start reaches with the whole budget, and regrets.

    The target on a family is the median, over seeds, of the cold start's best score after
    all ``n_trials``; a run that never reaches it counts ``n_trials + 1``.
    """
    summary = {}
    for strategy in STRATEGIES:
        reach, regret = [], []
        for family in families:
            goal = np.median([c[-1] for c in curves["cold"][family]])
            reach += [trials_to_reach(np.asarray(c), goal) for c in curves[strategy][family]]
            regret += normalised_regret(curves, family)[strategy]
        regret = np.asarray(regret)
        summary[strategy] = {
            "median_trials_to_cold_final": float(np.median(reach)),
            "share_reaching_cold_final": float(np.mean(np.asarray(reach) <= n_trials)),
            **{
                f"median_regret_after_{k}": float(np.median(regret[:, k - 1]))
                for k in sorted({1, min(3, n_trials), n_trials})
            },
        }
    return summary


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, (setting, res) in zip(axes[0], results.items()):
        for strategy in STRATEGIES:
            regrets = [
                r for f in res["families"] for r in normalised_regret(res["curves"], f)[strategy]
            ]
            med = np.median(regrets, axis=0)
            med = np.maximum(med, 1e-4)  # zero regret shown at the floor of the log axis
            ax.plot(np.arange(1, med.size + 1), med, marker="o", ms=3, label=strategy)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_xlabel("trial")
        ax.set_ylabel("median normalised regret of the best-so-far")
        ax.set_title(f"{setting}: warm vs cold start")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--n-earlier", type=int, default=15)
    parser.add_argument("--n-trials", type=int, default=10)
    parser.add_argument("--n-seeds", type=int, default=4)
    parser.add_argument("--n-configs", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "search_warmstart.json")
    parser.add_argument(
        "--from-json",
        type=Path,
        help="recompute the summary and the plot from an earlier record, without searching",
    )
    args = parser.parse_args()
    if args.from_json is not None:
        record = json.loads(args.from_json.read_text())
        for res in record["results"].values():
            res["summary"] = summarise(res["curves"], res["families"], res["n_trials"])
        args.from_json.write_text(json.dumps(record, indent=1))
        plot(record["results"], args.from_json.with_suffix(".png"))
        report(record["results"])
        return
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:  # the earlier studies live in SQLite files
        results = {
            s: run_setting(
                s, args.n_earlier, args.n_trials, args.n_seeds, args.n_configs, Path(tmp)
            )
            for s in args.setting
        }
    record = {
        "benchmark": "search_warmstart",
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "wall_seconds": time.perf_counter() - tic,
        "results": results,
        **environment("cpu"),
    }
    record["versions"]["optuna"] = optuna.__version__
    write_record(record, args.output)
    plot(results, args.output.with_suffix(".png"))
    report(results)


def report(results):
    for setting, res in results.items():
        print(f"\n{setting}: median over {len(res['families'])} families x {res['n_seeds']} seeds")
        for strategy, row in res["summary"].items():
            print(f"  {strategy:9s} {row}")


if __name__ == "__main__":
    main()
