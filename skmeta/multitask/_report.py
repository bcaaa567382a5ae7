"""The transfer report: does sharing help each task, or hurt it (negative transfer)?"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.metrics import accuracy_score, r2_score

from ..tasks import Task

BASELINES = ("independent", "shared")


def transfer_report(
    estimator: Any,
    tasks: list[Task],
    *,
    metric: Callable[[np.ndarray, np.ndarray], float] | None = None,
    tolerance: float = 0.0,
    task_ids: Any = None,
):
    """Per-task scores of a multi-task model against the independent and shared baselines.

    Three clones of ``estimator`` are trained jointly on the support sets of ``tasks``:
    as given, with ``conditioning="independent"`` (no sharing) and with
    ``conditioning="shared"`` (full sharing); each is scored on every task's query set.
    A task where the model scores below the independent baseline (by more than
    ``tolerance``) suffers **negative transfer**: sharing hurts it, so share less (another
    conditioning, fewer conditioned layers, a smaller ``sharing_penalty``). A model below
    the shared baseline points the other way, to overfitting: share more.

    Parameters
    ----------
    estimator : MultiTaskRegressor or MultiTaskClassifier
        Cloned, never modified.
    tasks : list of Task
        Each with a labelled query set, which is held out for scoring; build them from
        rows grouped by task with `skmeta.tasks.tasks_from_groups`.
    metric : callable, default=None
        ``metric(y_true, y_pred)``, greater is better; default R² for regressors and
        accuracy for classifiers.
    tolerance : float, default=0.0
        How much worse than the independent baseline counts as negative transfer.
    task_ids : array-like of shape (n_tasks,), default=None
        The id of each task, as the estimator's ``task_weights`` or ``descriptor`` dicts
        name them (for `skmeta.tasks.tasks_from_groups`, ``np.unique(groups)``); they
        train the models and index the report. Default: 0, 1, ... in the order of
        ``tasks``.

    Returns
    -------
    report : pandas.DataFrame
        One row per task (index: ``task_ids``) with ``n_train``, ``n_test``, the scores
        ``model``, ``independent`` and ``shared``, ``gain`` (model − independent) and
        ``negative_transfer`` (bool). ``report.attrs`` holds the conditioning and the
        mean scores.

    See Also
    --------
    plot_transfer_report : The report as a figure.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.multitask import MultiTaskRegressor, transfer_report
    >>> from skmeta.tasks import tasks_from_groups
    >>> rng = np.random.default_rng(0)
    >>> X, groups = rng.normal(size=(240, 2)), np.repeat([0, 1, 2], 80)
    >>> y = X[:, 0] + groups                          # related tasks: offsets
    >>> tasks = tasks_from_groups(X, y, groups, n_support=0.75, random_state=0)
    >>> est = MultiTaskRegressor(max_epochs=20, random_state=0)
    >>> report = transfer_report(est, tasks)
    >>> list(report.columns)
    ['n_train', 'n_test', 'model', 'independent', 'shared', 'gain', 'negative_transfer']
    """
    pd = _require("pandas", "transfer_report returns a pandas DataFrame")
    tasks = list(tasks)
    if not tasks or not all(isinstance(t, Task) for t in tasks):
        raise TypeError(
            "transfer_report takes a list of Task objects with labelled query sets; build "
            "them with skmeta.tasks.tasks_from_groups(X, y, groups, n_support=0.75)."
        )
    if any(t.X_query is None or t.y_query is None for t in tasks):
        raise ValueError("Every task needs a labelled query set, on which it is scored.")
    if metric is None:
        metric = accuracy_score if is_classifier(estimator) else r2_score
    if task_ids is None:
        ids = np.arange(len(tasks))
        params = estimator.get_params()
        for name in ("descriptor", "task_weights"):
            keyed = params.get(name)
            if isinstance(keyed, dict) and set(keyed) != set(ids.tolist()):
                raise ValueError(
                    f"The estimator's {name} names tasks by id ({sorted(keyed)[:5]}), but "
                    f"the tasks are numbered 0 to {len(tasks) - 1} without task_ids: pass "
                    "transfer_report(..., task_ids=...) with each task's id (for "
                    "tasks_from_groups, np.unique(groups))."
                )
    else:
        ids = np.asarray(task_ids)
        if ids.ndim != 1 or ids.shape[0] != len(tasks) or np.unique(ids).shape[0] != len(ids):
            raise ValueError(
                f"task_ids must name each of the {len(tasks)} tasks once, in their order; "
                f"got {ids.tolist()[:10]}."
            )
    # The support sets, each row with its task's id; descriptors in sorted-id order.
    X = np.concatenate([t.X_support for t in tasks])
    y = np.concatenate([t.y_support for t in tasks])
    rows = np.concatenate([np.full(t.n_support, i) for i, t in zip(ids, tasks)])
    descriptors = [tasks[k].descriptor for k in np.argsort(ids, kind="stable")]

    def train(model):
        model._validate_params()
        return model._fit_joint(X, y, rows, task_descriptors=descriptors)

    models = {"model": train(clone(estimator))}
    for name in BASELINES:
        models[name] = (
            models["model"]
            if estimator.get_params()["conditioning"] == name
            else train(clone(estimator).set_params(conditioning=name))
        )
    scores = {
        name: [
            float(metric(t.y_query, m.predict(t.X_query, task_ids=np.full(t.n_query, i))))
            for i, t in zip(ids, tasks)
        ]
        for name, m in models.items()
    }
    report = pd.DataFrame(
        {
            "n_train": [t.n_support for t in tasks],
            "n_test": [t.n_query for t in tasks],
            **scores,
        },
        index=pd.Index(ids, name="task"),
    )
    report["gain"] = report["model"] - report["independent"]
    report["negative_transfer"] = report["gain"] < -tolerance
    report.attrs = {
        "conditioning": estimator.get_params()["conditioning"],
        "metric": getattr(metric, "__name__", repr(metric)),
        "mean": {name: float(np.mean(v)) for name, v in scores.items()},
        "n_negative_transfer": int(report["negative_transfer"].sum()),
    }
    return report


def plot_transfer_report(report, ax=None):
    """Plot a `transfer_report`: each task's model score against its independent score.

    Points below the diagonal are tasks with negative transfer (drawn in red); grey
    crosses show the fully shared baseline.

    Parameters
    ----------
    report : pandas.DataFrame
        From `transfer_report`.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import pandas as pd
    >>> from skmeta.multitask import plot_transfer_report
    >>> report = pd.DataFrame({"model": [0.5, 0.2], "independent": [0.4, 0.3],
    ...                        "shared": [0.3, 0.1], "negative_transfer": [False, True]})
    >>> ax = plot_transfer_report(report)  # doctest: +SKIP
    """
    plt = _require("matplotlib.pyplot", "plot_transfer_report draws with matplotlib")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    neg = report["negative_transfer"].to_numpy(bool)
    ax.scatter(
        report["independent"], report["shared"], marker="x", color="0.6", label="shared baseline"
    )
    ax.scatter(
        report["independent"][~neg], report["model"][~neg], color="C0", label="model: sharing helps"
    )
    ax.scatter(
        report["independent"][neg],
        report["model"][neg],
        color="C3",
        label="model: negative transfer",
    )
    values = report[["model", "independent", "shared"]].to_numpy(float)
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
    ax.set_xlabel("independent (one model per task)")
    ax.set_ylabel("score")
    title = report.attrs.get("conditioning")
    ax.set_title(f"Transfer per task{f' ({title})' if title else ''}")
    ax.legend(loc="best", fontsize="small")
    return ax


def _require(module: str, why: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{why}; install it with `pip install {module.split('.')[0]}`.") from exc
