"""`MetaSearch`: Optuna hyper-parameter search over a distribution of tasks."""

from __future__ import annotations

import hashlib
import math
import os
import random
import socket
import time
import warnings
from collections.abc import Mapping, Sized
from itertools import islice
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.pruners import BasePruner, NopPruner, WilcoxonPruner
from optuna.samplers import BaseSampler, TPESampler
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState
from sklearn.base import BaseEstimator, clone, is_classifier
from sklearn.metrics import accuracy_score, check_scoring, mean_squared_error
from sklearn.utils import check_random_state

from ..tasks import Task, iter_tasks
from ._space import check_space, decoded, stored, suggest
from ._warmstart import (
    ERROR_ATTR,
    META_FEATURES_ATTR,
    PRUNED_ATTR,
    WarmStart,
    fully_evaluated,
    task_meta_features,
)

_Z95 = 1.959963984540054
_JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
_VALIDATION_ATTR = "skmeta:validation_fingerprint"
_OPEN_ATTEMPTS = 6


def open_storage(storage: Any, heartbeat_interval: int | None = 60) -> BaseStorage | None:
    """Open an Optuna storage from what a user passes as ``storage=``.

    ``None`` keeps the study in memory. A URL (``"sqlite:///search.db"``,
    ``"postgresql://user@host/db"``) opens an `optuna.storages.RDBStorage` with heartbeats
    every ``heartbeat_interval`` seconds, so that the trial of a killed worker is marked
    failed and its configuration retried once. A path without a scheme opens SQLite,
    or a `optuna.storages.JournalStorage` file when it ends in ``.log``, ``.jsonl`` or
    ``.journal`` (for file systems where SQLite locking is unreliable, e.g. NFS). A
    storage object is used as it is.
    """
    if storage is None or isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(
            f"storage must be None, a URL such as 'sqlite:///search.db', a file path, or an "
            f"optuna storage; got {type(storage).__name__}."
        )
    text = os.fspath(storage)
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return _open(text, heartbeat_interval)
        except Exception as exc:  # sqlalchemy and file errors, whatever the backend
            if attempt < _OPEN_ATTEMPTS - 1 and _is_creation_race(exc):
                # Workers that start together race to create the tables: the loser sees
                # "table ... already exists", a duplicate version row or a locked file.
                # The winner's tables are there (or soon will be); opening again succeeds.
                time.sleep(0.2 * (attempt + 1) + random.random() * 0.2)
                continue
            raise ValueError(
                f"Could not open the Optuna storage {text!r}: {type(exc).__name__}: {exc}. "
                "Pass a writable file path, an RDB URL such as 'sqlite:///search.db', or an "
                "optuna storage object."
            ) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _is_creation_race(exc: BaseException) -> bool:
    name = type(exc).__name__
    if name == "IntegrityError":
        return True
    if name == "OperationalError":
        text = str(exc).lower()
        return "already exists" in text or "database is locked" in text
    return False


def _open(text: str, heartbeat_interval: int | None) -> BaseStorage:
    if "://" not in text and text.endswith(_JOURNAL_SUFFIXES):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(Path(text).resolve())))
    url = text if "://" in text else f"sqlite:///{Path(text).resolve()}"
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
    with warnings.catch_warnings():  # heartbeats are experimental in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=1) if heartbeat_interval else None
        return RDBStorage(
            url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            heartbeat_stale_trial_callback=retry,
        )


class MetaSearch(BaseEstimator):
    """Hyper-parameter search for a meta-learner, scored over a distribution of tasks.

    Each trial sets the sampled hyper-parameters on a clone of ``estimator``, meta-trains
    it on the training tasks (`meta_fit`), then adapts it to each validation task's
    support set (`fit`) and scores it on the task's query set. The trial's value is the
    mean score over validation tasks, and each task's score is reported to Optuna as an
    intermediate value (its step is the task's index), so that the default
    `optuna.pruners.WilcoxonPruner` stops a trial as soon as it is significantly worse than
    the best one on the tasks seen so far. Validation tasks are visited in a different
    random order in each trial.

    Trials live in an Optuna storage: a search given a file or an RDB URL can be killed and
    resumed (finished trials are kept; the interrupted configuration is retried), and
    several worker processes, on one machine or many, can run ``fit`` on the same
    ``storage`` and ``study_name`` to share the work.

    Parameters
    ----------
    estimator : skmeta estimator
        Any estimator with ``meta_fit``, ``fit`` and ``predict``.
    param_distributions : dict
        Parameter names (nested ``step__param`` names included) mapped to Optuna
        distributions, or the shorthand: a list of choices, ``(low, high)`` (integers if
        both are), or ``(low, high, "log")``.
    n_trials : int, default=20
        Trials the study should hold when the search ends, counted over all workers and
        earlier runs of the same study; a resumed search runs only the missing ones.
    timeout : float, default=None
        Stop starting trials after this many seconds of this call.
    n_validation_tasks : int, default=100
        Validation tasks drawn once from an endless sampler; a finite collection is used
        whole. Give the sampler a fixed ``random_state`` when several workers share a
        study, so that all score the same tasks.
    scoring : str or callable, default=None
        Per-task score (greater is better): accuracy for classifiers, negative mean
        squared error for regressors; or a scikit-learn scorer name or callable
        ``scorer(estimator, X_query, y_query)``.
    sampler : optuna.samplers.BaseSampler, default=None
        `optuna.samplers.TPESampler` seeded by ``random_state`` if None.
    pruner : "wilcoxon", optuna.pruners.BasePruner or None, default="wilcoxon"
        ``"wilcoxon"`` is ``WilcoxonPruner(p_threshold=0.1, n_startup_steps=10)``: a trial
        is scored on at least 10 validation tasks (few-shot task scores are noisy) before it
        can be stopped. None never prunes.
    prune_on : {"auto", "tasks", "iterations"}, default="auto"
        What the intermediate values are. ``"tasks"``: the score of each validation task
        (a running mean for pruners other than Wilcoxon's). ``"iterations"``: the
        validation score during meta-training, every ``validation_interval`` meta-updates
        (for `optuna.pruners.MedianPruner`, `optuna.pruners.HyperbandPruner`, ...), where
        the estimator's ``meta_fit`` takes ``callbacks``; meta-training then also keeps its
        best prior on a subset of the validation tasks. ``"auto"`` picks ``"tasks"`` for
        the Wilcoxon pruner and ``"iterations"`` for the others when supported.
    storage : str, path-like or optuna storage, default=None
        None keeps the study in memory; a path opens SQLite (or a JournalStorage for
        ``.log``/``.jsonl``/``.journal`` files); a URL opens that database. See
        `open_storage`.
    study_name : str, default=None
        Name of the study in ``storage``; needed to resume or share a study.
    load_if_exists : bool, default=True
        Resume the study ``study_name`` if ``storage`` already holds it.
    heartbeat_interval : int or None, default=60
        Seconds between heartbeats of a running trial, for storages opened from a URL or
        path; a trial without a heartbeat for twice as long is marked failed and its
        configuration enqueued again. None disables this.
    warm_start : WarmStart, list of optuna.Study or list of str, default=None
        Earlier searches to seed a new study from; a list is ``WarmStart(list)``. Used only
        when the study has no trials yet.
    error_score : "raise" or float, default="raise"
        What a trial whose ``meta_fit`` or scoring raises does: stop the search, or (with a
        number) score that number, with a warning, while the search goes on, as
        scikit-learn's searches score a failed fit. The trial counts towards ``n_trials``,
        carries its error in the user attribute ``"skmeta:error"`` (and the ``error``
        column of ``cv_results_``) and is never the best; with NaN it is a FAIL trial.
        Give a number below every real score (e.g. -1 for accuracy, a large negative one
        for negative MSE): the sampler and the pruner read it as the trial's score.
    refit : bool, default=True
        Meta-train ``best_estimator_`` on the training tasks with the best parameters.
    random_state : int, RandomState instance or None, default=None
        Seeds the default sampler and the order of validation tasks.
    verbose : int, default=0
        Print one line per finished trial.

    Attributes
    ----------
    study_ : optuna.Study
        The study, readable by ``optuna-dashboard`` when kept in a storage.
    best_params_ : dict
        Parameters of the best fully evaluated trial.
    best_score_ : float
        Its mean validation score.
    best_trial_ : optuna.trial.FrozenTrial
    best_estimator_ : estimator
        Meta-trained with ``best_params_`` (if ``refit``).
    cv_results_ : dict of ndarray
        One entry per finished trial of the study, in the layout of
        `sklearn.model_selection.GridSearchCV` (``params``, ``param_<name>``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score``, ...), plus
        ``ci95_test_score``, ``n_test_tasks``, ``pruned`` and ``trial_number``;
        ``pandas.DataFrame(search.cv_results_)`` is a table of it.
    n_trials_ : int
        Finished trials in the study.
    meta_features_ : dict
        `task_meta_features` of the training tasks, also stored in the study so that later
        searches can warm-start from it.
    warm_start_configurations_ : list of dict
        What warm start enqueued (empty without warm start).

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import ProtoNetClassifier
    >>> from skmeta.search import MetaSearch
    >>> from skmeta.tasks import EpisodeSampler
    >>> X, y = make_blobs(600, n_features=8, centers=30, random_state=0)
    >>> train = EpisodeSampler(X[y < 20], y[y < 20], n_way=5, n_shot=1, n_query=5,
    ...                        random_state=0)
    >>> val = EpisodeSampler(X[y >= 20], y[y >= 20], n_way=5, n_shot=1, n_query=5,
    ...                      n_episodes=10, random_state=1)
    >>> search = MetaSearch(ProtoNetClassifier(backbone="mlp", n_meta_iterations=5,
    ...                                        random_state=0),
    ...                     {"meta_lr": (1e-4, 1e-2, "log")}, n_trials=3, random_state=0)
    >>> search.fit(train, validation_tasks=val).n_trials_
    3
    >>> 0.0 <= search.best_score_ <= 1.0
    True
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Mapping[str, Any],
        *,
        n_trials: int = 20,
        timeout: float | None = None,
        n_validation_tasks: int = 100,
        scoring: Any = None,
        sampler: BaseSampler | None = None,
        pruner: Any = "wilcoxon",
        prune_on: str = "auto",
        storage: Any = None,
        study_name: str | None = None,
        load_if_exists: bool = True,
        heartbeat_interval: int | None = 60,
        warm_start: Any = None,
        error_score: Any = "raise",
        refit: bool = True,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.timeout = timeout
        self.n_validation_tasks = n_validation_tasks
        self.scoring = scoring
        self.sampler = sampler
        self.pruner = pruner
        self.prune_on = prune_on
        self.storage = storage
        self.study_name = study_name
        self.load_if_exists = load_if_exists
        self.heartbeat_interval = heartbeat_interval
        self.warm_start = warm_start
        self.error_score = error_score
        self.refit = refit
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public API
    def fit(
        self, tasks: Any, y: Any = None, groups: Any = None, *, validation_tasks: Any = None
    ) -> MetaSearch:
        """Run the search: trials until the study holds ``n_trials`` finished ones.

        Parameters
        ----------
        tasks : list of Task, sampler, or array-like
            Meta-training tasks, in any form the estimator's ``meta_fit`` takes; it must
            be re-iterable (each trial reads it again).
        y, groups : array-like, default=None
            Passed to ``meta_fit`` with array ``tasks``.
        validation_tasks : list of Task or (X, y) pairs, or sampler
            Held-out tasks with labelled query sets, on which configurations are scored.

        Returns
        -------
        self : MetaSearch
        """
        space, pruner, prune_on = self._check_config()
        self._check_tasks(tasks)
        validation = self._validation_tasks(validation_tasks)
        storage = open_storage(self.storage, self.heartbeat_interval)
        seed = _int_seed(self.random_state)
        study = self._study(storage, pruner, seed)
        earlier = {name for t in study.get_trials(deepcopy=False) for name in t.params}
        if earlier and earlier != set(space):
            warnings.warn(
                f"Study {study.study_name!r} holds trials over the parameters "
                f"{sorted(earlier)}, this search's space is {sorted(space)}: the best trial "
                "(best_params_, the refit) may come from the other space. Use another "
                "study_name for another space.",
                UserWarning,
                stacklevel=2,
            )
        fingerprint = _fingerprint(validation)
        known = study.user_attrs.get(_VALIDATION_ATTR)
        if known is not None and known != fingerprint:
            warnings.warn(
                f"Study {study.study_name!r} was scored on other validation tasks than this "
                "call's: scores and pruning decisions are not comparable across them. Give "
                "the validation sampler a fixed random_state (or pass a list of tasks).",
                UserWarning,
                stacklevel=2,
            )
        meta_features = task_meta_features(tasks, y, groups)
        if known is None:
            study.set_user_attr(_VALIDATION_ATTR, fingerprint)
            study.set_user_attr(META_FEATURES_ATTR, meta_features)
            study.set_user_attr("skmeta:estimator", type(self.estimator).__name__)
        self.meta_features_ = meta_features
        self.warm_start_configurations_ = self._warm_start(study, space, meta_features, storage)

        objective = _Objective(self, space, tasks, y, groups, validation, prune_on, pruner, seed)
        report = [_print_trial] if self.verbose else []
        start = time.perf_counter()
        while self._missing(study) > 0:
            if self.timeout is not None and time.perf_counter() - start > self.timeout:
                break
            study.optimize(
                objective, n_trials=1, catch=objective.catch, callbacks=report, gc_after_trial=False
            )
        self.study_ = study
        self._collect(study, space)
        if self.refit:
            model = clone(self.estimator).set_params(**self.best_params_)
            tic = time.perf_counter()
            self.best_estimator_ = model.meta_fit(
                tasks, *_array_args(y, groups), **objective.meta_fit_kwargs()
            )
            self.refit_time_ = time.perf_counter() - tic
        return self

    def trials_dataframe(self, **kwargs: Any) -> Any:
        """The study's trials as a `pandas.DataFrame` (`optuna.Study.trials_dataframe`)."""
        return self._fitted_study().trials_dataframe(**kwargs)

    def plot_optimization_history(self) -> Any:
        """Best value against trial number (matplotlib), via `optuna.visualization`."""
        from optuna.visualization.matplotlib import plot_optimization_history

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return plot_optimization_history(self._fitted_study())

    def plot_param_importances(self) -> Any:
        """fANOVA importance of each parameter (matplotlib), via `optuna.visualization`."""
        from optuna.visualization.matplotlib import plot_param_importances

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return plot_param_importances(self._fitted_study())

    # ------------------------------------------------------------------ internals
    def _fitted_study(self) -> optuna.Study:
        if not hasattr(self, "study_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("This MetaSearch has not run yet; call fit(tasks, ...) first.")
        return self.study_

    def _check_config(self) -> tuple[dict, BasePruner, str]:
        if not all(hasattr(self.estimator, m) for m in ("meta_fit", "fit", "predict")):
            raise TypeError(
                f"MetaSearch needs an estimator with meta_fit, fit and predict (an skmeta "
                f"estimator); got {type(self.estimator).__name__}. For plain estimators use "
                "sklearn's GridSearchCV or optuna's OptunaSearchCV."
            )
        space = check_space(self.estimator, self.param_distributions)
        _check_scoring_kind(self.estimator, self.scoring)
        if not _is_int(self.n_trials, 1):
            raise ValueError(f"n_trials must be an int >= 1; got {self.n_trials!r}.")
        if not _is_int(self.n_validation_tasks, 1):
            raise ValueError(
                f"n_validation_tasks must be an int >= 1; got {self.n_validation_tasks!r}."
            )
        if self.timeout is not None and not (isinstance(self.timeout, Real) and self.timeout > 0):
            raise ValueError(f"timeout must be a positive number or None; got {self.timeout!r}.")
        if not (self.error_score == "raise" or isinstance(self.error_score, Real)):
            raise ValueError(f"error_score must be 'raise' or a number; got {self.error_score!r}.")
        if self.pruner == "wilcoxon":
            with warnings.catch_warnings():  # experimental in Optuna, stable in use
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                pruner: BasePruner = WilcoxonPruner(p_threshold=0.1, n_startup_steps=10)
        elif self.pruner is None:
            pruner = NopPruner()
        elif isinstance(self.pruner, BasePruner):
            pruner = self.pruner
        else:
            raise ValueError(
                f"pruner must be 'wilcoxon', None or an optuna pruner; got {self.pruner!r}."
            )
        if self.prune_on not in ("auto", "tasks", "iterations"):
            raise ValueError(
                f"prune_on must be 'auto', 'tasks' or 'iterations'; got {self.prune_on!r}."
            )
        supports = _takes_callbacks(self.estimator)
        prune_on = self.prune_on
        if prune_on == "auto":
            iterative = not isinstance(pruner, (WilcoxonPruner, NopPruner))
            prune_on = "iterations" if iterative and supports else "tasks"
        if prune_on == "iterations" and not supports:
            raise ValueError(
                f"prune_on='iterations' needs a meta_fit that reports progress (takes "
                f"callbacks); {type(self.estimator).__name__}.meta_fit does not. Use "
                "prune_on='tasks'."
            )
        if prune_on == "iterations" and isinstance(pruner, WilcoxonPruner):
            raise ValueError(
                "WilcoxonPruner compares per-task scores; it cannot prune across meta-training "
                "iterations. Use prune_on='tasks', or a pruner such as MedianPruner."
            )
        return space, pruner, prune_on

    @staticmethod
    def _check_tasks(tasks: Any) -> None:
        if _length(tasks) == 0:
            raise ValueError("MetaSearch.fit received an empty collection of training tasks.")
        if not isinstance(tasks, np.ndarray) and iter(tasks) is tasks:
            raise TypeError(
                "MetaSearch meta-trains once per trial, so the training tasks must be "
                "re-iterable: pass a list or a sampler, not a generator or iterator."
            )

    def _validation_tasks(self, validation_tasks: Any) -> list[Task]:
        if validation_tasks is None:
            raise ValueError(
                "MetaSearch scores each configuration on held-out tasks: pass "
                "validation_tasks=... (a list of tasks, or a sampler over held-out classes; "
                "skmeta.tasks.split_tasks splits tasks by group)."
            )
        count = _length(validation_tasks)
        if count == 0:
            raise ValueError("validation_tasks is empty; MetaSearch needs tasks to score on.")
        count = count if count is not None else self.n_validation_tasks
        n_shot = getattr(self.estimator, "n_shot", None)
        stream = iter_tasks(
            validation_tasks,
            n_shot=n_shot,
            random_state=0,
            stratify=is_classifier(self.estimator),
        )
        tasks = list(islice(stream, count))
        if not tasks:
            raise ValueError("validation_tasks yielded no task.")
        for i, task in enumerate(tasks):
            if task.X_query is None or task.y_query is None or len(task.y_query) == 0:
                raise ValueError(
                    f"Validation task {i} has no labelled query set; MetaSearch scores "
                    "configurations on query sets."
                )
        return tasks

    def _study(self, storage: Any, pruner: BasePruner, seed: int | None) -> optuna.Study:
        sampler = self.sampler if self.sampler is not None else TPESampler(seed=seed)
        try:
            study = optuna.create_study(
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                study_name=self.study_name,
                direction="maximize",
                load_if_exists=self.load_if_exists,
            )
        except optuna.exceptions.DuplicatedStudyError:
            raise ValueError(
                f"The storage already holds a study named {self.study_name!r}; pass "
                "load_if_exists=True to resume it, or choose another study_name."
            ) from None
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ValueError(
                f"Study {study.study_name!r} minimises; MetaSearch maximises scores. Use "
                "another study_name."
            )
        return study

    def _warm_start(
        self, study: optuna.Study, space: dict, meta_features: dict, storage: Any
    ) -> list[dict]:
        if self.warm_start is None:
            return []
        ws = self.warm_start
        if not isinstance(ws, WarmStart):
            if isinstance(ws, (str, optuna.Study)) or not hasattr(ws, "__iter__"):
                raise TypeError(
                    "warm_start takes a WarmStart, or a list of earlier studies or study names; "
                    f"got {type(ws).__name__}."
                )
            ws = WarmStart(list(ws))
        if study.get_trials(deepcopy=False):
            return []  # resuming: the queue was seeded when the study began
        configs = ws.configurations(space, meta_features, storage)
        for config in configs:
            study.enqueue_trial(stored(space, config), user_attrs={"skmeta:warm_start": True})
        return configs

    def _missing(self, study: optuna.Study) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        busy = sum(
            t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
            # a trial that raised, under a numeric error_score (not one failed as stale)
            or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
            for t in study.get_trials(deepcopy=False)
        )
        return self.n_trials - busy

    def _collect(self, study: optuna.Study, space: dict) -> None:
        finished = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            # a trial that raised under a NaN error_score (not one failed as stale)
            or (t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
        ]
        full = [t for t in finished if fully_evaluated(t)]
        if not full:
            errors = sorted(
                {t.user_attrs[ERROR_ATTR] for t in study.trials if ERROR_ATTR in t.user_attrs}
            )
            raise RuntimeError(
                f"No trial of study {study.study_name!r} was evaluated on all validation tasks "
                "(every trial failed or was pruned). Check error messages above, or loosen "
                "the pruner." + (f" The trials' errors: {'; '.join(errors[:3])}." if errors else "")
            )
        best = max(full, key=lambda t: t.value)
        self.best_trial_ = best
        self.best_params_ = decoded(space, best.params)
        self.best_score_ = float(best.value)
        self.n_trials_ = len(finished)
        self.cv_results_ = _cv_results(finished, list(self.param_distributions), space)


class _Objective:
    """One trial: meta-train a clone with the sampled parameters, score it task by task."""

    def __init__(self, search, space, tasks, y, groups, validation, prune_on, pruner, seed):
        self.search, self.space = search, space
        self.tasks, self.args = tasks, _array_args(y, groups)
        self.validation, self.prune_on = validation, prune_on
        self.per_task = isinstance(pruner, WilcoxonPruner)
        self.seed = 0 if seed is None else seed
        estimator = search.estimator
        if search.scoring is None:
            self.score = _accuracy if is_classifier(estimator) else _neg_mse
        else:
            self.score = check_scoring(estimator, scoring=search.scoring)
        self.catch = () if search.error_score == "raise" else (Exception,)

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("skmeta:worker", f"{socket.gethostname()}:{os.getpid()}")
        try:
            return self._run(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:
            if not self.catch:
                raise
            error = f"{type(exc).__name__}: {exc}"
            score = float(self.search.error_score)
            warnings.warn(
                f"Trial {trial.number} failed ({error}); it scores error_score={score!r} "
                "and the search goes on.",
                UserWarning,
                stacklevel=2,
            )
            # As scikit-learn's searches score a failed fit: the trial counts towards
            # n_trials with error_score as its value (the sampler learns from it), and is
            # never the best. (A NaN error_score makes it a FAIL trial, marked the same.)
            trial.set_user_attr(ERROR_ATTR, error)
            return score  # (Optuna marks a NaN value FAIL, with one line of warning)

    def meta_fit_kwargs(self) -> dict[str, Any]:
        """With pruning across iterations, meta-training keeps its best prior on the first
        (at most 20) validation tasks, which it scores every ``validation_interval``."""
        if self.prune_on != "iterations":
            return {}
        return {"validation_tasks": self.validation[:20]}

    def _run(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.space)
        model = clone(self.search.estimator).set_params(**params)
        kwargs = self.meta_fit_kwargs()
        if self.prune_on == "iterations":
            kwargs["callbacks"] = [_IterationReporter(trial)]
        tic = time.perf_counter()
        model.meta_fit(self.tasks, *self.args, **kwargs)
        trial.set_user_attr("skmeta:fit_time", time.perf_counter() - tic)

        tic = time.perf_counter()
        order = np.random.default_rng([self.seed, trial.number]).permutation(len(self.validation))
        scores: list[float] = []
        pruned = False
        for step, i in enumerate(order):
            task = self.validation[i]
            model.fit(task.X_support, task.y_support)
            scores.append(float(self.score(model, task.X_query, task.y_query)))
            if self.prune_on != "tasks":
                continue
            if self.per_task:
                trial.report(scores[-1], step=int(i))
            else:
                trial.report(float(np.mean(scores)), step=step)
            if step + 1 < len(order) and trial.should_prune():  # a complete score stands
                pruned = True
                break
        arr = np.asarray(scores)
        if not np.all(np.isfinite(arr)):
            raise FloatingPointError(
                f"Trial {trial.number} with {params} scored NaN or infinity on a validation "
                "task (diverged meta-training?); narrow the search space."
            )
        std = float(arr.std(ddof=1)) if arr.size > 1 else float("nan")
        trial.set_user_attr("skmeta:score_time", time.perf_counter() - tic)
        trial.set_user_attr("skmeta:n_tasks", int(arr.size))
        trial.set_user_attr("skmeta:std", std)
        trial.set_user_attr("skmeta:ci95", _Z95 * std / math.sqrt(arr.size))
        # Optuna's advice for the Wilcoxon pruner: a pruned trial returns its running mean
        # (which the sampler learns from) rather than raising TrialPruned.
        trial.set_user_attr(PRUNED_ATTR, pruned)
        return float(arr.mean())


class _IterationReporter:
    """meta_fit callback: report validation scores during meta-training, prune if told."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial

    def __call__(self, estimator: Any, record: dict) -> None:
        if "val_score" not in record:
            return
        self.trial.report(float(record["val_score"]), step=int(record["iteration"]))
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at meta-iteration {record['iteration']}")


def _print_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    pruned = " (pruned)" if trial.user_attrs.get(PRUNED_ATTR) else ""
    print(
        f"[MetaSearch] trial {trial.number} {trial.state.name.lower()}{pruned}: "
        f"{trial.value} {trial.params}",
        flush=True,
    )


def _accuracy(model: Any, X: Any, y: Any) -> float:
    return float(accuracy_score(y, model.predict(X)))


def _neg_mse(model: Any, X: Any, y: Any) -> float:
    return -float(mean_squared_error(y, model.predict(X)))


def _cv_results(trials: list[FrozenTrial], names: list[str], space: dict) -> dict[str, Any]:
    n = len(trials)
    pruned = np.array(
        [t.state == TrialState.PRUNED or t.user_attrs.get(PRUNED_ATTR, False) for t in trials]
    )
    means = np.array([t.value if t.value is not None else np.nan for t in trials], dtype=float)
    results: dict[str, Any] = {
        "trial_number": np.array([t.number for t in trials]),
        "params": [decoded(space, t.params) for t in trials],
    }
    for name in names:
        column = np.ma.MaskedArray(np.empty(n, dtype=object), mask=True)
        for i, params in enumerate(results["params"]):
            if name in params:
                column[i] = params[name]
        results[f"param_{name}"] = column
    results["mean_test_score"] = means
    results["std_test_score"] = np.array([t.user_attrs.get("skmeta:std", np.nan) for t in trials])
    results["ci95_test_score"] = np.array([t.user_attrs.get("skmeta:ci95", np.nan) for t in trials])
    results["n_test_tasks"] = np.array([t.user_attrs.get("skmeta:n_tasks", 0) for t in trials])
    results["pruned"] = pruned
    results["error"] = [t.user_attrs.get(ERROR_ATTR) for t in trials]
    # Ranks: fully evaluated trials first by score; pruned ones after them.
    failed = np.array([ERROR_ATTR in t.user_attrs for t in trials], dtype=bool)
    key = np.where(pruned | failed | np.isnan(means), -np.inf, means)
    order = np.argsort(-key, kind="stable")
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(1, n + 1)
    results["rank_test_score"] = rank
    results["mean_fit_time"] = np.array(
        [t.user_attrs.get("skmeta:fit_time", np.nan) for t in trials]
    )
    results["mean_score_time"] = np.array(
        [t.user_attrs.get("skmeta:score_time", np.nan) for t in trials]
    )
    return results


_CLASSIFICATION_SCORERS = (
    "accuracy", "balanced_accuracy", "top_k_accuracy", "average_precision", "neg_brier_score",
    "f1", "precision", "recall", "jaccard", "roc_auc", "neg_log_loss", "matthews_corrcoef",
    "d2_brier", "d2_log_loss", "positive_likelihood", "neg_negative_likelihood",
)  # fmt: skip


def _check_scoring_kind(estimator: Any, scoring: Any) -> None:
    """A scorer name for classifiers on a regressor fails in every trial: say so now."""
    if not isinstance(scoring, str) or is_classifier(estimator):
        return
    if scoring.startswith(_CLASSIFICATION_SCORERS):
        raise ValueError(
            f"scoring={scoring!r} scores class predictions, but {type(estimator).__name__} "
            "is a regressor; use a regression scorer such as 'neg_mean_squared_error' or 'r2' "
            "(or None: negative MSE)."
        )


def _array_args(y: Any, groups: Any) -> tuple:
    if y is None:
        return ()
    return (y,) if groups is None else (y, groups)


def _takes_callbacks(estimator: Any) -> bool:
    import inspect

    try:
        return "callbacks" in inspect.signature(estimator.meta_fit).parameters
    except (TypeError, ValueError):
        return False


def _length(obj: Any) -> int | None:
    """len(obj) for finite collections; None for endless samplers and iterators."""
    if not isinstance(obj, Sized):
        return None
    try:
        return len(obj)
    except TypeError:
        return None


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum


def _int_seed(random_state: Any) -> int | None:
    if random_state is None:
        return None
    if isinstance(random_state, Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _fingerprint(tasks: list[Task]) -> str:
    """A short hash of the validation tasks, to notice workers scoring different ones."""
    digest = hashlib.sha1()
    for task in tasks:
        for array in (task.X_support, task.y_support, task.X_query, task.y_query):
            digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]
