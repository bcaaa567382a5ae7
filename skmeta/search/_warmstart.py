"""Warm-starting a search from earlier ones: task meta-features and the P(θ_i, t_j) table."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence, Sized
from itertools import islice
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from ..tasks import GroupedTasks, Task, iter_tasks
from ._space import encode, restrict

#: Study user attributes written by `MetaSearch` and read back by `WarmStart`.
META_FEATURES_ATTR = "skmeta:meta_features"
PRUNED_ATTR = "skmeta:pruned"
#: Set on a trial that raised; under a numeric ``error_score`` its value is that score.
ERROR_ATTR = "skmeta:error"


def task_meta_features(
    tasks: Any, y: Any = None, groups: Any = None, *, n_tasks: int = 50, random_state: int = 0
) -> dict[str, float]:
    """Describe a collection of tasks by a few numbers, to find similar earlier searches.

    The meta-features are averages over up to ``n_tasks`` tasks (support and query rows
    together):

    ================== =====================================================================
    ``log_n_features``  log of the number of input values per example (pixels for images)
    ``log_n_support``   log of the support-set size
    ``classification``  1 for class labels, 0 for real-valued targets
    ``log_n_classes``   log of the number of classes per task (0 for regression)
    ``x_mean``          mean input value
    ``x_std``           mean standard deviation of the input values within a task
    ``y_std``           mean standard deviation of the targets within a task (0 for classes)
    ``y_mean``          mean target value (0 for classes)
    ================== =====================================================================

    Parameters
    ----------
    tasks : iterable of Task or (X, y) pairs, sampler, or array-like
        Any form `meta_fit` accepts. With ``y`` and ``groups``, the rows of each group are a
        task; with ``y`` alone, the array is one labelled pool, described as a single task.
    y, groups : array-like, default=None
    n_tasks : int, default=50
        Tasks to read from an endless sampler (a finite list is read up to this many).
    random_state : int, default=0
        Seeds the support/query split of ``(X, y)`` pairs.

    Returns
    -------
    features : dict of str to float

    Examples
    --------
    >>> from skmeta.datasets import SinusoidTasks
    >>> from skmeta.search import task_meta_features
    >>> features = task_meta_features(SinusoidTasks(n_support=10, random_state=0), n_tasks=20)
    >>> features["classification"], features["log_n_features"]
    (0.0, 0.0)
    """
    if y is not None:
        if groups is not None:
            tasks = GroupedTasks(tasks, y, groups, random_state=random_state)
        else:
            X = np.asarray(tasks)
            yy = np.asarray(y)
            tasks = [Task(X, yy, X, yy)]
    stream = iter_tasks(tasks, random_state=random_state)
    rows = [_features_of(task) for task in islice(stream, n_tasks)]
    if not rows:
        raise ValueError("task_meta_features needs at least one task.")
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def _features_of(task: Task) -> dict[str, float]:
    X = np.concatenate([task.X_support, task.X_query]) if task.X_query is not None else None
    X = task.X_support if X is None else X
    y = task.y_support if task.y_query is None else np.concatenate([task.y_support, task.y_query])
    flat = X.reshape(X.shape[0], -1).astype(float)
    classification = y.dtype.kind not in "fc"
    y_float = y.astype(float) if not classification else np.zeros(1)
    return {
        "log_n_features": math.log(flat.shape[1]),
        "log_n_support": math.log(task.n_support),
        "classification": float(classification),
        "log_n_classes": math.log(np.unique(task.y_support).shape[0]) if classification else 0.0,
        "x_mean": float(flat.mean()),
        "x_std": float(flat.std(axis=0).mean()),
        "y_std": float(y_float.std()),
        "y_mean": float(y_float.mean()),
    }


def task_distances(
    target: Mapping[str, float], others: Sequence[Mapping[str, float] | None]
) -> np.ndarray:
    """Euclidean distances between meta-features, each feature scaled by its spread.

    A feature is divided by its standard deviation over ``target`` and ``others`` (features
    that do not vary are ignored); earlier searches without meta-features get an infinite
    distance, so they rank last.
    """
    known = [o for o in others if o is not None]
    keys = [k for k in target if all(k in o for o in known)]
    if not known or not keys:
        return np.array([0.0 if o is not None else np.inf for o in others])
    table = np.array([[o[k] for k in keys] for o in known] + [[target[k] for k in keys]])
    scale = table.std(axis=0)
    scale[scale == 0] = np.inf
    z = table / scale
    dist = np.linalg.norm(z[:-1] - z[-1], axis=1)
    out, it = [], iter(dist)
    for o in others:
        out.append(next(it) if o is not None else np.inf)
    return np.asarray(out, dtype=float)


def fully_evaluated(trial: FrozenTrial) -> bool:
    """A trial scored on every validation task: complete, neither pruned nor failed."""
    return (
        trial.state == TrialState.COMPLETE
        and not trial.user_attrs.get(PRUNED_ATTR, False)
        and ERROR_ATTR not in trial.user_attrs
        and trial.value is not None
    )


def _scored_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Fully evaluated trials, best first."""
    trials = [t for t in study.get_trials(deepcopy=False) if fully_evaluated(t)]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return sorted(trials, key=lambda t: sign * t.value)


def _summaries(storage: Any) -> list:
    try:
        return optuna.get_all_study_summaries(storage)
    except Exception:  # the names are a courtesy of the error message
        return []


class WarmStart:
    """Seed a new search with configurations that did well on earlier tasks.

    Earlier searches form the table P(θ_i, t_j): configuration θ_i scored on task
    collection t_j. Two strategies turn it into configurations to try first:

    * ``"similar"``: the best configurations of the ``n_similar`` earlier searches whose
      task meta-features (`task_meta_features`) are closest to the new tasks', taken in
      turn, most similar search first.
    * ``"portfolio"``: a greedy portfolio of ``n_configs`` configurations that minimises the
      average, over the earlier searches, of the best normalised regret within the
      portfolio (Feurer et al. 2015; Wistuba et al. 2015). Each earlier search scored
      only its own configurations, so a configuration's score on another search is taken
      from that search's nearest configuration (in the search space scaled to [0, 1], on
      a log scale where the range is).

    Parameters
    ----------
    studies : list of optuna.Study or str
        Earlier searches, as studies or study names in ``storage``.
    strategy : {"similar", "portfolio"}, default="similar"
    n_configs : int, default=5
        Configurations to enqueue before the sampler takes over.
    n_similar : int, default=3
        Earlier searches drawn from with ``strategy="similar"``.
    n_candidates : int, default=10
        Best configurations of each earlier search that the portfolio chooses from.
    storage : str, path-like or optuna storage, default=None
        Where study names are looked up, in any form `MetaSearch` takes (a URL, a file
        path, a storage object); None uses the storage of the `MetaSearch`.

    Attributes
    ----------
    configurations_ : list of dict
        What the last `configurations` call chose, in order.
    distances_ : dict of str to float
        Meta-feature distance from the new tasks to each earlier search.
    """

    def __init__(
        self,
        studies: Iterable[Any],
        strategy: str = "similar",
        n_configs: int = 5,
        n_similar: int = 3,
        n_candidates: int = 10,
        storage: Any = None,
    ) -> None:
        self.studies = studies
        self.strategy = strategy
        self.n_configs = n_configs
        self.n_similar = n_similar
        self.n_candidates = n_candidates
        self.storage = storage

    def __repr__(self) -> str:
        # len() only: listing a generator of studies here would use it up before `load`.
        n = len(self.studies) if isinstance(self.studies, Sized) else "?"
        return (
            f"WarmStart(strategy={self.strategy!r}, n_configs={self.n_configs}, "
            f"{n} earlier searches)"
        )

    def load(self, storage: Any = None) -> list[optuna.Study]:
        """The earlier studies, loaded from ``storage`` where given by name."""
        from ._search import open_storage  # (it imports this module)

        where = self.storage if self.storage is not None else storage
        opened = None  # opened once, at the first study given by name
        studies = []
        for s in self.studies:
            if isinstance(s, optuna.Study):
                studies.append(s)
            elif isinstance(s, str):
                if where is None:
                    raise ValueError(
                        f"Earlier study {s!r} is given by name, but there is no storage to "
                        "load it from: pass WarmStart(storage=...) or a MetaSearch storage."
                    )
                opened = opened or open_storage(where, None)
                try:
                    studies.append(optuna.load_study(study_name=s, storage=opened))
                except KeyError as exc:
                    plain = isinstance(where, (str, os.PathLike))
                    shown = repr(os.fspath(where)) if plain else type(where).__name__
                    names = [summary.study_name for summary in _summaries(opened)]
                    raise ValueError(
                        f"No study named {s!r} in the storage {shown}; it holds {names[:10]}."
                    ) from exc
            else:
                raise TypeError(
                    f"WarmStart studies are optuna.Study objects or study names; got {s!r}."
                )
        if not studies:
            raise ValueError("WarmStart needs at least one earlier study.")
        return studies

    def configurations(
        self,
        space: Mapping[str, Any],
        meta_features: Mapping[str, float] | None = None,
        storage: Any = None,
    ) -> list[dict[str, Any]]:
        """Configurations to enqueue in a new search over ``space``, best bet first."""
        if self.strategy not in ("similar", "portfolio"):
            raise ValueError(
                f"WarmStart strategy must be 'similar' or 'portfolio'; got {self.strategy!r}."
            )
        for name in ("n_configs", "n_similar", "n_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"WarmStart {name} must be an int >= 1; got {value!r}.")
        studies = self.load(storage)
        features = [s.user_attrs.get(META_FEATURES_ATTR) for s in studies]
        dist = (
            task_distances(meta_features, features)
            if meta_features is not None
            else np.zeros(len(studies))
        )
        self.distances_ = {s.study_name: float(d) for s, d in zip(studies, dist)}
        ranked = [studies[i] for i in np.argsort(dist, kind="stable")]
        if self.strategy == "similar":
            chosen = self._similar(ranked[: self.n_similar], space)
        else:
            chosen = self._portfolio(ranked, space)
        self.configurations_ = chosen
        return chosen

    def _similar(self, studies: list[optuna.Study], space: Mapping[str, Any]) -> list[dict]:
        queues = [[restrict(space, t.params) for t in _scored_trials(s)] for s in studies]
        chosen: list[dict] = []
        while len(chosen) < self.n_configs and any(queues):
            for queue in queues:
                while queue:
                    config = queue.pop(0)
                    if config and config not in chosen:
                        chosen.append(config)
                        break
                if len(chosen) == self.n_configs:
                    break
        return chosen

    def _portfolio(self, studies: list[optuna.Study], space: Mapping[str, Any]) -> list[dict]:
        candidates: list[dict] = []
        for s in studies:
            for t in _scored_trials(s)[: self.n_candidates]:
                config = restrict(space, t.params)
                if config and config not in candidates:
                    candidates.append(config)
        regret = performance_regret(studies, space, candidates)
        if regret.size == 0:
            return []
        chosen: list[int] = []
        best = np.full(regret.shape[1], np.inf)
        while len(chosen) < min(self.n_configs, len(candidates)):
            gains = np.minimum(best[None, :], regret).mean(axis=1)
            gains[chosen] = np.inf
            pick = int(np.argmin(gains))
            chosen.append(pick)
            best = np.minimum(best, regret[pick])
        return [candidates[i] for i in chosen]


def performance_regret(
    studies: Sequence[optuna.Study], space: Mapping[str, Any], configs: Sequence[Mapping]
) -> np.ndarray:
    """Normalised regret of each configuration on each earlier search: the P table.

    Entry (i, j) is ``(best_j - P_ij) / (best_j - worst_j)``, 0 for the best configuration
    of search j and 1 for its worst, where P_ij is the score of the configuration of
    search j nearest to ``configs[i]`` (itself when search j tried it).

    Returns
    -------
    regret : ndarray of shape (n_configs, n_searches)
    """
    columns = []
    points = np.array([encode(space, c) for c in configs]) if configs else np.empty((0, 0))
    for s in studies:
        trials = _scored_trials(s)
        if not trials or points.size == 0:
            continue
        values = np.array([t.value for t in trials], dtype=float)
        if s.direction == optuna.study.StudyDirection.MINIMIZE:
            values = -values
        seen = np.array([encode(space, restrict(space, t.params)) for t in trials])
        nearest = np.argmin(((points[:, None, :] - seen[None, :, :]) ** 2).sum(-1), axis=1)
        span = values.max() - values.min()
        columns.append((values.max() - values[nearest]) / span if span > 0 else 0 * nearest)
    if not columns:
        return np.empty((len(configs), 0))
    return np.stack(columns, axis=1).astype(float)
