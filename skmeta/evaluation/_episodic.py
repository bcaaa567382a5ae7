"""Episodic evaluation: adapt on each task's support set, score on its query set."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from itertools import islice
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, mean_squared_error
from sklearn.utils.metadata_routing import MetadataRequest

from ..tasks import GroupedTasks, Task, iter_tasks

#: z-value of a two-sided 95% normal interval, as few-shot papers report it.
_Z95 = 1.959963984540054


@dataclass(frozen=True)
class EpisodicScore:
    """Mean score over tasks with its 95% confidence interval.

    Attributes
    ----------
    mean : float
    ci95 : float
        Half-width of the interval: 1.96 standard errors of the mean over tasks.
    scores : ndarray of shape (n_tasks,)
        The score of each task.
    metric : str
        "accuracy" or "mse".
    """

    mean: float
    ci95: float
    scores: np.ndarray
    metric: str

    @property
    def n_tasks(self) -> int:
        return int(self.scores.shape[0])

    def __str__(self) -> str:
        if self.metric == "accuracy":
            return f"{100 * self.mean:.2f}% ± {100 * self.ci95:.2f}% ({self.n_tasks} tasks)"
        return f"{self.mean:.4g} ± {self.ci95:.2g} {self.metric} ({self.n_tasks} tasks)"


def _summarise(scores: list[float], metric: str) -> EpisodicScore:
    arr = np.asarray(scores, dtype=float)
    sem = arr.std(ddof=1) / np.sqrt(arr.shape[0]) if arr.shape[0] > 1 else float("nan")
    return EpisodicScore(float(arr.mean()), float(_Z95 * sem), arr, metric)


def evaluate(
    estimator: Any,
    tasks: Any,
    n_tasks: int | None = 600,
    *,
    random_state: Any = None,
) -> EpisodicScore:
    """Score an estimator over tasks the way few-shot papers report it.

    For each task, the estimator is adapted on the support set (``fit``) and scored on
    the query set: accuracy for classifiers, mean squared error for regressors. The
    estimator itself is left as it was: a copy does the adapting, starting each time from
    the same prior.

    Parameters
    ----------
    estimator : skmeta estimator
        Meta-fitted or not.
    tasks : iterable of Task or (X, y) pairs, or sampler
        Meta-test tasks (e.g. an `EpisodeSampler` over held-out classes).
    n_tasks : int or None, default=600
        Tasks to score (600 is the papers' convention); None scores a finite collection
        in full. Each task is scored once: a finite collection must hold at least
        ``n_tasks`` (an endless sampler always does). With one task, ``ci95`` is nan.
    random_state : int, RandomState instance or None, default=None
        Seeds the support/query split of ``(X, y)`` pairs.

    Returns
    -------
    result : EpisodicScore
        ``mean``, ``ci95`` (half-width of the 95% interval), per-task ``scores``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta import ProtoNetClassifier
    >>> from skmeta.evaluation import evaluate
    >>> from skmeta.tasks import EpisodeSampler
    >>> from sklearn.datasets import make_blobs
    >>> X, y = make_blobs(400, centers=20, random_state=0)
    >>> tasks = EpisodeSampler(X, y, n_way=5, n_shot=5, n_query=5, random_state=0)
    >>> result = evaluate(ProtoNetClassifier(random_state=0), tasks, n_tasks=20)
    >>> result.n_tasks, 0.0 <= result.mean <= 1.0
    (20, True)
    """
    classifier = is_classifier(estimator)
    if n_tasks is not None and (
        isinstance(n_tasks, bool) or not isinstance(n_tasks, Integral) or n_tasks < 1
    ):
        raise ValueError(f"n_tasks must be an int >= 1 or None (all tasks); got {n_tasks!r}.")
    finite = not getattr(tasks, "_draws_endlessly", False) and hasattr(tasks, "__len__")
    if n_tasks is None and not finite:
        raise ValueError("tasks is endless; pass n_tasks=... to say how many to score.")
    if finite and n_tasks is not None and n_tasks > len(tasks):
        # iter_tasks cycles over a finite collection: scoring the same tasks again would
        # narrow the interval without new evidence
        raise ValueError(
            f"Asked for {n_tasks} tasks but the collection holds {len(tasks)}, and each task "
            f"is scored once. Pass n_tasks=None to score all {len(tasks)}, or more tasks "
            f"(e.g. an EpisodeSampler with n_episodes={n_tasks}, or an endless one)."
        )
    count = len(tasks) if n_tasks is None else n_tasks
    model = copy.deepcopy(estimator)
    stream = iter_tasks(
        tasks,
        n_shot=getattr(estimator, "n_shot", None),
        random_state=random_state,
        stratify=classifier,
    )
    scores = []
    for task in islice(stream, count):
        scores.append(_score_task(model, task, classifier))
    if not scores:
        raise ValueError("No task to evaluate.")
    if len(scores) < count:
        raise ValueError(f"Asked for {count} tasks but the collection has only {len(scores)}.")
    return _summarise(scores, "accuracy" if classifier else "mse")


def _score_task(model: Any, task: Task, classifier: bool) -> float:
    if task.X_query is None or task.y_query is None or len(task.y_query) == 0:
        raise ValueError(
            "Evaluation needs tasks with a labelled, non-empty query set (n_query >= 1)."
        )
    y_pred = model.fit(task.X_support, task.y_support).predict(task.X_query)
    if classifier:
        return float(accuracy_score(task.y_query, y_pred))
    return float(mean_squared_error(task.y_query, y_pred))


class EpisodicScorer:
    """A scorer for `GridSearchCV` that scores by task, not by row.

    Called as ``scorer(estimator, X, y, groups=groups)`` on a validation fold whose rows
    are grouped into tasks, it splits each task into support and query, adapts the
    (meta-fitted) estimator on the support set and scores it on the query set. Returns the
    mean accuracy (classifiers) or the negative mean squared error (regressors), so that
    greater is better. It asks for ``groups`` through metadata routing.

    Parameters
    ----------
    n_support : int or float, default=1
        Support examples per class (classification) or per task, or a fraction of a
        task's rows; the rest of the task is its query set.
    random_state : int, default=0
        Seeds the support/query split, so that every candidate is scored on the same
        episodes.
    """

    def __init__(self, n_support: int | float = 1, random_state: int = 0) -> None:
        self.n_support = n_support
        self.random_state = random_state

    def __call__(self, estimator: Any, X: Any, y: Any, groups: Any = None) -> float:
        if groups is None:
            raise ValueError(
                "The episodic scorer needs groups naming the task of each row. Enable "
                "metadata routing (sklearn.set_config(enable_metadata_routing=True)) and "
                "pass groups= to the search's fit."
            )
        classifier = is_classifier(estimator)
        tasks = GroupedTasks(
            X, y, groups, self.n_support, stratify=classifier, random_state=self.random_state
        )
        model = copy.deepcopy(estimator)
        scores = [_score_task(model, task, classifier) for task in tasks]
        return float(np.mean(scores)) if classifier else -float(np.mean(scores))

    def get_metadata_routing(self) -> MetadataRequest:
        request = MetadataRequest(owner=type(self).__name__)
        request.score.add_request(param="groups", alias=True)
        return request

    def __repr__(self) -> str:
        return f"EpisodicScorer(n_support={self.n_support!r}, random_state={self.random_state!r})"


def episodic_scorer(n_support: int | float = 1, random_state: int = 0) -> EpisodicScorer:
    """Make a task-level scorer for `GridSearchCV` over meta-parameters.

    Examples
    --------
    >>> import sklearn
    >>> from sklearn.model_selection import GridSearchCV, GroupKFold
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import ProtoNetClassifier
    >>> from skmeta.evaluation import episodic_scorer
    >>> X, y = make_blobs(240, centers=12, random_state=0)
    >>> groups = y // 3                       # four tasks of three classes each
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=5, random_state=0)
    ...     search = GridSearchCV(est.set_fit_request(groups=True),
    ...                           {"meta_lr": [1e-3, 1e-2]}, cv=GroupKFold(2),
    ...                           scoring=episodic_scorer(n_support=1))
    ...     _ = search.fit(X, y, groups=groups)
    >>> sorted(search.best_params_)
    ['meta_lr']
    """
    return EpisodicScorer(n_support=n_support, random_state=random_state)
