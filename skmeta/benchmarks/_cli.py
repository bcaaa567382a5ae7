"""``python -m skmeta.benchmarks {omniglot,sinusoid,school}``: the benchmark runner."""

from __future__ import annotations

import argparse
import ast
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._budget import meta_fit_segments
from ._omniglot import omniglot_test_episodes, omniglot_validation_episodes
from ._record import RESULTS_DIR, environment, reference_step_ms, write_record
from ._school import (
    RIDGE_ALPHAS,
    SCHOOL_NETWORK,
    explained_variance,
    independent_ridge,
    split_within_tasks,
)

_Z95 = 1.959963984540054
_MAML_OMNIGLOT = dict(inner_lr=0.4, n_inner_steps=1, n_adapt_steps=3, meta_batch_size=16)

#: Omniglot estimators: (class name in skmeta, parameters beyond the shared ones).
OMNIGLOT_ESTIMATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "protonet": ("ProtoNetClassifier", {}),
    "matching": ("MatchingNetClassifier", {}),
    "relation": ("RelationNetClassifier", {}),
    "siamese": ("SiameseClassifier", {}),
    "maml": ("MAMLClassifier", _MAML_OMNIGLOT),
    "fomaml": ("MAMLClassifier", _MAML_OMNIGLOT | {"first_order": True}),
    "anil": ("MAMLClassifier", _MAML_OMNIGLOT | {"adapt": "head"}),
    "metasgd": ("MAMLClassifier", _MAML_OMNIGLOT | {"learn_inner_lr": True}),
    "reptile": ("ReptileClassifier", {}),
    "blackbox": ("BlackBoxClassifier", {}),
    "finetune": ("FineTuneClassifier", {"batch_size": 64}),
}
#: Sinusoid estimators, on the 1-40-40-1 network of Finn et al. (2017).
SINUSOID_ESTIMATORS: dict[str, tuple[str, dict[str, Any]]] = {
    "maml": ("MAMLRegressor", {}),
    "fomaml": ("MAMLRegressor", {"first_order": True}),
    "metasgd": ("MAMLRegressor", {"learn_inner_lr": True}),
    "anil": ("MAMLRegressor", {"adapt": "head"}),
    "reptile": ("ReptileRegressor", {}),
    "blackbox": ("BlackBoxRegressor", {}),
}
#: School models: the conditioning of `MultiTaskRegressor`.
SCHOOL_CONDITIONINGS = [
    "concat",
    "additive",
    "multiplicative",
    "multihead",
    "independent",
    "shared",
]


def _param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE a Python literal (``inner_lr=0.1``, ``freeze='body'``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value  # a bare string: freeze=body


def _setting(text: str) -> tuple[int, int]:
    """``20w5s`` -> (20, 5): an N-way K-shot test setting."""
    way, sep, shot = text.lower().removesuffix("s").partition("w")
    if not (sep and way.isdigit() and shot.isdigit() and int(way) >= 2 and int(shot) >= 1):
        raise argparse.ArgumentTypeError(f"expected a setting such as 20w5s, got {text!r}")
    return int(way), int(shot)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skmeta.benchmarks",
        description="Time-budgeted skmeta benchmarks: a JSON record (configuration, "
        "versions, machine, time, result with its 95% CI) and an optional plot.",
    )
    sub = parser.add_subparsers(dest="benchmark", required=True)

    def common(p: argparse.ArgumentParser, default_budget: float) -> None:
        p.add_argument("--budget-minutes", type=float, default=default_budget)
        p.add_argument("--random-state", type=int, default=0)
        p.add_argument(
            "--output", default=None, help=f"JSON record (default: {RESULTS_DIR}/<name>.json)"
        )
        p.add_argument("--plot", default=None, metavar="PATH", help="save a figure (matplotlib)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    def meta(p: argparse.ArgumentParser, estimators: dict) -> None:
        p.add_argument("--estimator", choices=estimators, default=next(iter(estimators)))
        p.add_argument(
            "--eval-at",
            nargs="+",
            type=float,
            default=None,
            metavar="MINUTES",
            help="also score the model after these many minutes of meta-training",
        )
        p.add_argument("--segment", type=int, default=50, help="meta-updates between clock checks")
        p.add_argument("--device", default="auto", help='"auto", "cpu", "cuda" or "cuda:N"')
        p.add_argument(
            "--param",
            action="append",
            type=_param,
            default=[],
            metavar="KEY=VALUE",
            help="an estimator parameter, e.g. --param inner_lr=0.1 (repeatable)",
        )

    p = sub.add_parser("omniglot", help="few-shot classification of unseen characters")
    meta(p, OMNIGLOT_ESTIMATORS)
    common(p, default_budget=10.0)
    p.add_argument("--n-way", type=int, default=5, help="ways of the test episodes")
    p.add_argument("--n-shot", type=int, default=1)
    p.add_argument("--train-n-way", type=int, default=None, help="default: --n-way")
    p.add_argument("--train-n-query", type=int, default=15)
    p.add_argument("--test-episodes", type=int, default=600)
    p.add_argument(
        "--validation-episodes",
        type=int,
        default=0,
        metavar="N",
        help="select the model on N episodes of the test setting drawn from the validation "
        "characters (Vinyals et al.'s 'val' split), scored every `validation_interval` "
        "meta-updates (set it with --param); every mark scores the best model so far. "
        "Validation time counts in the budget. Default 0: no validation, the last model",
    )
    p.add_argument(
        "--also-test",
        nargs="+",
        type=_setting,
        default=[],
        metavar="NwKs",
        help="also score the final model on these test settings, e.g. 20w1s 5w5s 20w5s "
        "(for learners whose fit takes any number of ways and shots)",
    )
    p.add_argument("--data-home", default=None, help="default: the embedded 28x28 copy")

    p = sub.add_parser("sinusoid", help="regression on sine waves (Finn et al., 2017)")
    meta(p, SINUSOID_ESTIMATORS)
    common(p, default_budget=5.0)
    p.add_argument("--n-shot", type=int, default=10, help="support points per task (K)")
    p.add_argument("--test-tasks", type=int, default=600)

    p = sub.add_parser("school", help="multi-task regression over 139 schools")
    p.add_argument("--estimator", choices=SCHOOL_CONDITIONINGS, default="additive")
    p.add_argument("--sharing-penalty", type=float, default=0.0)
    p.add_argument("--n-splits", type=int, default=10, help="at most this many random splits")
    p.add_argument("--data-home", default=None, help="default: the embedded copy")
    common(p, default_budget=5.0)
    return parser


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run one benchmark from the command line; return its record.

    Parameters
    ----------
    argv : list of str, default=None
        The arguments (default: ``sys.argv[1:]``); ``python -m skmeta.benchmarks --help``
        lists them.

    Returns
    -------
    record : dict
        What is written to ``--output``: ``benchmark``, ``config``, ``complete``,
        ``result`` (``mean`` and ``ci95``, the half-width of the 95% confidence interval),
        ``results`` (all figures), ``wall_seconds``, ``versions``, ``machine`` (with the
        CPU model and ``reference_ms``, the time of a fixed workload measured before the
        run: see `skmeta.benchmarks.reference_step_ms`), ``command`` and ``date``. The
        record is also written at every ``--eval-at`` mark, with ``complete`` false and the
        figures so far, so that a run cut short keeps them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from skmeta.benchmarks import main
    >>> with tempfile.TemporaryDirectory() as tmp:  # doctest: +ELLIPSIS
    ...     record = main(["sinusoid", "--budget-minutes", "0", "--segment", "5",
    ...                    "--test-tasks", "5", "--no-progress",
    ...                    "--output", str(Path(tmp) / "run.json")])
    without meta_fit: ... mse (5 tasks)
    after ... min, 5 meta-updates: ... mse (5 tasks)
    sinusoid_maml_k10_0min: mse ...; record written to .../run.json
    >>> record["result"]["metric"], record["config"]["estimator"]
    ('mse', 'maml')
    """
    import torch

    parser = _parser()
    args = parser.parse_args(argv)
    _check_arguments(parser, args)
    # The machine's speed on a fixed workload, before the run: times in records from
    # different machines compare after dividing by it.
    reference_ms = reference_step_ms()
    tic = time.perf_counter()
    run = {"omniglot": _omniglot, "sinusoid": _sinusoid, "school": _school}[args.benchmark]
    name = _record_name(args)
    output = Path(args.output) if args.output else RESULTS_DIR / f"{name}.json"
    command = "python -m skmeta.benchmarks " + shlex.join(sys.argv[1:] if argv is None else argv)

    def make_record(results: dict[str, Any], device: Any, complete: bool) -> dict[str, Any]:
        config = {
            k: v for k, v in vars(args).items() if k not in ("benchmark", "plot", "no_progress")
        }
        if "param" in config:
            config["param"] = dict(config["param"])
        config["torch_threads"] = torch.get_num_threads()
        return {
            "benchmark": args.benchmark,
            "config": config,
            "complete": complete,
            "result": results["final"],
            "results": results,
            "wall_seconds": time.perf_counter() - tic,
            **environment(device, reference_ms),
            "command": command,
        }

    def write_partial(results: dict[str, Any], device: Any) -> None:
        # At every mark before the last (and at the last before --also-test), so that a
        # run cut short keeps its marks.
        write_record(make_record(results, device, complete=False), output)

    results, device = run(args, write_partial)
    record = make_record(results, device, complete=True)
    write_record(record, output)
    print(f"{name}: {_format(results['final'])}; record written to {output}")
    if args.plot:
        _plot(record, args.plot)
        print(f"figure saved to {args.plot}")
    return record


def _check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse, before any work, what would fail or mislead later: marks past the budget,
    counts below 1, unknown or invalid ``--param`` values, ``--also-test`` ways that a
    fixed-way learner cannot take."""
    from sklearn.utils._param_validation import InvalidParameterError

    if args.budget_minutes < 0:
        parser.error(f"--budget-minutes must be >= 0; got {args.budget_minutes}.")
    for mark in getattr(args, "eval_at", None) or []:
        if not 0 < mark <= args.budget_minutes:
            parser.error(
                f"--eval-at {mark:g} lies outside the budget (0, {args.budget_minutes:g}] "
                "minutes: marks score the model during the run; raise --budget-minutes "
                "to train longer."
            )
    for name in ("segment", "test_episodes", "test_tasks", "n_shot", "n_splits"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {value}.")
    for name in ("n_way", "train_n_way"):
        value = getattr(args, name, None)
        if value is not None and value < 2:
            parser.error(f"--{name.replace('_', '-')} must be >= 2; got {value}.")
    if getattr(args, "validation_episodes", 0) < 0:
        parser.error(f"--validation-episodes must be >= 0; got {args.validation_episodes}.")
    registry = {"omniglot": OMNIGLOT_ESTIMATORS, "sinusoid": SINUSOID_ESTIMATORS}.get(
        args.benchmark
    )
    if registry is None:
        return
    import skmeta

    cls = getattr(skmeta, registry[args.estimator][0])
    accepted = cls().get_params()
    for key, value in args.param:
        if key not in accepted:
            parser.error(f"--param {key}: {cls.__name__} has no parameter {key!r}.")
        try:
            cls(**{key: value})._validate_params()
        except InvalidParameterError as error:
            parser.error(f"--param {key}={value!r}: {error}")
    if getattr(args, "also_test", None) and "n_way" in cls._architecture_params:
        # an output layer of as many classes as the meta-training episodes have
        trained_ways = dict(args.param).get("n_way", args.train_n_way or args.n_way)
        other = [f"{w}w{s}s" for w, s in args.also_test if w != trained_ways]
        if other:
            parser.error(
                f"--also-test {' '.join(other)}: {cls.__name__} ({args.estimator}) has an "
                f"output layer for the {trained_ways} ways it meta-trains on; test other "
                "shots only, or use a learner that takes any number of ways."
            )


def _format(score: dict[str, Any]) -> str:
    scale, unit = (100, "%") if score["metric"] != "mse" else (1, "")
    ci95 = f"{scale * score['ci95']:.2g}{unit}" if np.isfinite(score["ci95"]) else "n/a"
    return f"{score['metric']} {scale * score['mean']:.4g}{unit} ± {ci95}"


def _score(score: Any) -> dict[str, Any]:
    return {
        "mean": score.mean,
        "ci95": score.ci95,
        "metric": score.metric,
        "n_tasks": score.n_tasks,
    }


def _estimator(registry: dict, args: argparse.Namespace, shared: dict[str, Any]) -> Any:
    import skmeta

    class_name, params = registry[args.estimator]
    cls = getattr(skmeta, class_name)
    accepted = cls().get_params()
    params = {k: v for k, v in shared.items() if k in accepted} | params | dict(args.param)
    return cls(**params)


def _resolved(est: Any) -> dict[str, Any]:
    """The estimator's parameters; the budget, not ``n_meta_iterations``, ends training."""
    return {k: v for k, v in est.get_params().items() if k != "n_meta_iterations"}


def _meta_train_and_score(
    est, args, train, evaluate, on_mark, validation=None
) -> tuple[dict[str, Any], Any]:
    """Score without meta-training, then meta-train for the budget, scoring at each mark.

    ``on_mark(results, device)`` receives the results so far at every mark but the last.
    With ``validation`` tasks, the model scored at a mark is the one with the best
    validation score so far (``meta_fit`` keeps it across the segments' checkpoints).
    """
    marks = sorted({60.0 * m for m in [args.budget_minutes, *(args.eval_at or [])]})
    untrained = evaluate(est)
    print(f"without meta_fit: {untrained}", flush=True)
    curve = [{"minutes": 0.0, "meta_updates": 0, **_score(untrained)}]
    segments = meta_fit_segments(
        est,
        *train,
        budget_seconds=marks[-1],
        segment=args.segment,
        progress=not args.no_progress,
        validation_tasks=validation,
    )
    for done, seconds in segments:
        if seconds >= marks[0] or est.n_meta_iter_ < done:  # a mark, or early stopping
            while marks and seconds >= marks[0]:
                marks.pop(0)
            score = evaluate(est)
            point = {"minutes": seconds / 60, "meta_updates": est.n_meta_iter_, **_score(score)}
            selected = ""
            if validation is not None:
                point["selected_meta_update"] = est.best_meta_iteration_
                point["validation_score"] = est.best_validation_score_
                selected = f" (model of meta-update {est.best_meta_iteration_}, best on validation)"
            print(
                f"after {seconds / 60:.2f} min, {done} meta-updates{selected}: {score}",
                flush=True,
            )
            curve.append(point)
            if marks:
                on_mark(_snapshot(est, curve, seconds), est.device_)
    return _snapshot(est, curve, seconds), est.device_


def _snapshot(est, curve: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The results so far: the scored points of the curve and the meta-training history."""
    history = [
        {"meta_update": h["iteration"], "loss": h["loss"], "seconds": h["time"]}
        | ({"val_score": h["val_score"]} if "val_score" in h else {})
        for h in est.meta_history_
    ]
    return {
        "final": curve[-1],
        "untrained": curve[0],
        "curve": curve,
        "meta_train_seconds": seconds,
        "meta_updates": est.n_meta_iter_,
        "meta_history": history,
    }


def _omniglot(args: argparse.Namespace, on_mark: Callable) -> tuple[dict[str, Any], Any]:
    from ..datasets import load_omniglot
    from ..evaluation import evaluate

    X_train, y_train = load_omniglot("train", data_home=args.data_home)
    X_test, y_test = load_omniglot("test", data_home=args.data_home)
    test = omniglot_test_episodes(X_test, y_test, args.n_way, args.n_shot, args.test_episodes)
    shared = dict(
        backbone="conv4",
        n_way=args.train_n_way or args.n_way,
        n_shot=args.n_shot,
        n_query=args.train_n_query,
        transductive=False,
        device=args.device,
        random_state=args.random_state,
    )
    validation = None
    if args.validation_episodes:
        X_val, y_val = load_omniglot("val", data_home=args.data_home)
        validation = omniglot_validation_episodes(
            X_val, y_val, args.n_way, args.n_shot, args.validation_episodes
        )
    est = _estimator(OMNIGLOT_ESTIMATORS, args, shared)
    args.resolved_params = _resolved(est)
    results, device = _meta_train_and_score(
        est,
        args,
        (X_train, y_train),
        lambda e: evaluate(e, test, n_tasks=None),
        on_mark,
        validation,
    )
    # The final model on the other test settings: one meta-training run, several figures.
    # They can take longer than the run's other evaluations together (20-way 5-shot), so
    # the record is written first with the last mark, as at the marks before it.
    if args.also_test:
        on_mark(results, device)
    settings = {f"{args.n_way}w{args.n_shot}s": results["final"]}
    for way, shot in args.also_test:
        key = f"{way}w{shot}s"
        if key not in settings:
            episodes = omniglot_test_episodes(X_test, y_test, way, shot, args.test_episodes)
            score = evaluate(est, episodes, n_tasks=None)
            print(f"final model, {key}: {score}", flush=True)
            settings[key] = {"minutes": results["final"]["minutes"], **_score(score)}
    if len(settings) > 1:
        results["settings"] = settings
    return results, device


def _sinusoid(args: argparse.Namespace, on_mark: Callable) -> tuple[dict[str, Any], Any]:
    from ..datasets import SinusoidTasks
    from ..evaluation import evaluate

    train = SinusoidTasks(
        n_support=args.n_shot, n_query=args.n_shot, random_state=args.random_state
    )
    test = SinusoidTasks(
        n_support=args.n_shot,
        n_query=100,
        n_tasks=args.test_tasks,
        random_state=10_000 + args.n_shot,
    )
    shared = dict(device=args.device, random_state=args.random_state)
    est = _estimator(SINUSOID_ESTIMATORS, args, shared)
    args.resolved_params = _resolved(est)
    results, device = _meta_train_and_score(
        est, args, (train,), lambda e: evaluate(e, test, n_tasks=None), on_mark
    )
    return results, device


def _school(args: argparse.Namespace, on_mark: Callable) -> tuple[dict[str, Any], Any]:
    # No marks: the budget ends the splits, and the record is written once.
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler
    from tqdm.auto import tqdm

    from ..datasets import load_school
    from ..multitask import MultiTaskRegressor

    X, y, groups = load_school(args.data_home)
    budget = 60.0 * args.budget_minutes
    models = [args.estimator, "independent ridge", "pooled ridge"]
    scores: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
    seconds = {m: 0.0 for m in models}
    tic = time.perf_counter()
    for split in tqdm(range(args.n_splits), desc="School splits", disable=args.no_progress):
        if split > 0 and time.perf_counter() - tic >= budget:
            break
        test = split_within_tasks(groups, 0.25, split)
        scaler = StandardScaler().fit(X[~test])
        X_tr, X_te = scaler.transform(X[~test]), scaler.transform(X[test])
        y_tr, y_te, g_tr, g_te = y[~test], y[test], groups[~test], groups[test]
        for model in models:
            start = time.perf_counter()
            if model == "independent ridge":
                pred = independent_ridge(X_tr, y_tr, g_tr, X_te, g_te)
            elif model == "pooled ridge":
                pred = RidgeCV(alphas=RIDGE_ALPHAS).fit(X_tr, y_tr).predict(X_te)
            else:
                est = MultiTaskRegressor(
                    conditioning=args.estimator,
                    sharing_penalty=args.sharing_penalty,
                    random_state=args.random_state + split,
                    **SCHOOL_NETWORK,
                )
                pred = est.fit(X_tr, y_tr, task_ids=g_tr).predict(X_te, task_ids=g_te)
            scores[model].append(explained_variance(y_te, pred, g_te))
            seconds[model] += time.perf_counter() - start
    rows = {}
    for model, values in scores.items():
        pooled = np.asarray(values)[:, 0]
        sem = pooled.std(ddof=1) / np.sqrt(len(pooled)) if len(pooled) > 1 else float("nan")
        rows[model] = {
            "mean": float(pooled.mean()),
            "ci95": float(_Z95 * sem),
            "metric": "explained_variance",
            "n_splits": len(pooled),
            "per_school_mean": float(np.mean(np.asarray(values)[:, 1])),
            "seconds_per_split": seconds[model] / len(pooled),
        }
    args.resolved_params = {"conditioning": args.estimator, **SCHOOL_NETWORK}
    results = {"final": rows[args.estimator], "models": rows}
    return results, "cpu"


def _record_name(args: argparse.Namespace) -> str:
    """The record's default file name (without ``.json``) for these arguments.

    Every option that changes what is trained or scored is in the name (training ways and
    queries and validation episodes when not the defaults, each ``--param``; for School
    the sharing penalty, splits and budget when not the defaults), so a variant never
    overwrites the record of the plain run.

    >>> from skmeta.benchmarks._cli import _parser
    >>> _record_name(_parser().parse_args(["omniglot", "--estimator", "matching"]))
    'omniglot_matching_5w1s_10min'
    >>> _record_name(_parser().parse_args(
    ...     ["omniglot", "--train-n-way", "60", "--train-n-query", "5", "--budget-minutes", "30",
    ...      "--param", "meta_lr_decay_interval=2000"]))
    'omniglot_protonet_5w1s_train60way_5query_30min_meta_lr_decay_interval-2000'
    """
    extra = "".join(f"_{key}-{value}" for key, value in getattr(args, "param", []))
    if args.benchmark == "omniglot":
        train = ""
        if args.train_n_way is not None and args.train_n_way != args.n_way:
            train += f"_train{args.train_n_way}way"
        if args.train_n_query != 15:
            train += f"_{args.train_n_query}query"
        if args.validation_episodes:
            train += f"_val{args.validation_episodes}"
        setting = f"{args.estimator}_{args.n_way}w{args.n_shot}s{train}"
        return f"omniglot_{setting}_{args.budget_minutes:g}min{extra}"
    if args.benchmark == "sinusoid":
        return f"sinusoid_{args.estimator}_k{args.n_shot}_{args.budget_minutes:g}min{extra}"
    school = f"school_{args.estimator}"
    if args.sharing_penalty:
        school += f"_sharing{args.sharing_penalty:g}"
    if args.n_splits != 10:
        school += f"_{args.n_splits}splits"
    if args.budget_minutes != 5.0:  # a budget can stop the run after fewer splits
        school += f"_{args.budget_minutes:g}min"
    return school


def _plot(record: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, config = record["results"], record["config"]
    title = f"{record['benchmark']} · {config['estimator']}"
    if "models" in results:  # School: one bar per model, with its 95% CI over splits
        fig, ax = plt.subplots(figsize=(6, 3.5))
        names = list(results["models"])
        means = [100 * results["models"][n]["mean"] for n in names]
        errors = [100 * results["models"][n]["ci95"] for n in names]
        ax.barh(names, means, xerr=errors, color=["C0"] + ["0.6"] * (len(names) - 1))
        ax.set_xlabel("explained variance on held-out pupils (%) ± 95% CI")
        ax.set_title(f"{title} ({results['final']['n_splits']} splits)")
    else:
        fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 3.8))
        history = results["meta_history"]
        # the updates' own time (the score panel's minutes also count sampling and
        # checkpoints): plot against meta-updates, not a second time axis
        updates = np.arange(1, len(history) + 1)
        loss = np.array([h["loss"] for h in history])
        window = max(1, len(loss) // 50)
        smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
        ax_loss.plot(updates[window - 1 :], smooth)
        ax_loss.set_xlabel("meta-updates")
        ax_loss.set_ylabel(f"meta-training loss (running mean of {window})")
        curve = results["curve"]
        metric = curve[-1]["metric"]
        scale = 100.0 if metric == "accuracy" else 1.0
        ax_score.errorbar(
            [c["minutes"] for c in curve],
            [scale * c["mean"] for c in curve],
            yerr=[scale * c["ci95"] for c in curve],
            marker="o",
            capsize=3,
        )
        ax_score.set_xlabel("meta-training time (min)")
        ax_score.set_ylabel(f"test {metric}{' (%)' if scale == 100 else ''} ± 95% CI")
        fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
