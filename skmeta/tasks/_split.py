"""Building tasks from grouped rows, and splitting data by task, never by row."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.model_selection import GroupShuffleSplit
from sklearn.utils import _safe_indexing

from ._sampler import (
    _check_positive_int,
    _class_index,
    _episode_seed,
    _ResumableStream,
)
from ._task import Task, _as_samples, _as_targets


def _is_classification(y: np.ndarray) -> bool:
    return y.dtype.kind not in "fc"


def _split_rows(
    y: np.ndarray, n_support: int | float, stratify: bool, rng: np.random.Generator, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split the rows of one task into support and query indices."""
    n = y.shape[0]
    if stratify:
        classes, rows = _class_index(y)
        k = int(n_support) if isinstance(n_support, Integral) else None
        support, query = [], []
        for label, r in zip(classes, rows):
            take = k if k is not None else max(1, int(round(n_support * r.shape[0])))
            if r.shape[0] <= take:
                raise ValueError(
                    f"{where}: class {label.tolist()!r} has {r.shape[0]} examples, but {take} go "
                    "to the support set and at least one must remain for the query set. Lower "
                    "n_support (n_shot) or drop classes with too few examples."
                )
            r = rng.permutation(r)
            support.append(r[:take])
            query.append(r[take:])
        return np.concatenate(support), np.concatenate(query)
    take = int(n_support) if isinstance(n_support, Integral) else int(round(n_support * n))
    if n < 2:
        raise ValueError(
            f"{where} has {n} example(s), but a task needs at least 2: one for its support "
            "set and one for its query set. Give each task (each group of groups=) more rows."
        )
    if not 1 <= take < n:
        fix = "lower n_support" if take >= n else "raise n_support (or give it as a count)"
        raise ValueError(
            f"{where}: {n} examples cannot be split into {take} support examples and a "
            f"non-empty query set; {fix}, or give this task more rows."
        )
    perm = rng.permutation(n)
    return perm[:take], perm[take:]


def _check_n_support(n_support: Any) -> int | float:
    if isinstance(n_support, bool) or not isinstance(n_support, Real):
        raise ValueError(f"n_support must be an int >= 1 or a float in (0, 1); got {n_support!r}.")
    if isinstance(n_support, Integral):
        if n_support < 1:
            raise ValueError(f"n_support must be >= 1; got {n_support}.")
        return int(n_support)
    if not 0.0 < n_support < 1.0:
        raise ValueError(
            f"A float n_support is a fraction and must lie in (0, 1); got {n_support}."
        )
    return float(n_support)


class GroupedTasks:
    """Rows grouped into tasks, re-split into support and query on every pass.

    Iterating yields one task per group and pass. Each pass draws a new support/query
    split, so that a meta-learner cycling over a few tasks sees fresh episodes.
    `tasks_from_groups` is one pass of it, as a list.

    Parameters
    ----------
    X, y, groups : array-like
        Inputs, targets and the task of each row.
    n_support : int or float, default=0.5
        Support examples per task: a count, or a fraction of the task's rows. For
        classification with ``stratify=True`` it is per class (the ``n_shot`` of the task).
    stratify : bool or "auto", default="auto"
        Split each class separately; "auto" does so when ``y`` holds class labels.
    descriptors : array-like of shape (n_groups, n_descriptor) or dict, default=None
        Task descriptors, by sorted group or as a ``{group: vector}`` mapping.
    n_passes : int or None, default=1
        Passes over the groups that one iteration yields, each with a new split; None for
        an endless stream (what `meta_fit` uses).
    random_state : int, RandomState instance or None, default=None
        With an int, every ``iter()`` yields the same sequence of splits.
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        groups: Any,
        n_support: int | float = 0.5,
        *,
        stratify: bool | str = "auto",
        descriptors: Any = None,
        n_passes: int | None = 1,
        random_state: Any = None,
    ) -> None:
        self.X = _as_samples(X, "X")
        self.y = _as_targets(y, self.X.shape[0], "y")
        g = _as_targets(groups, self.X.shape[0], "groups")
        self.groups_, self._rows = _class_index(g)
        self.n_support = _check_n_support(n_support)
        self.stratify = _is_classification(self.y) if stratify == "auto" else bool(stratify)
        self.descriptors = self._descriptor_table(descriptors)
        self.n_passes = None if n_passes is None else _check_positive_int(n_passes, "n_passes")
        self.random_state = random_state

    def _descriptor_table(self, descriptors: Any) -> list[np.ndarray | None]:
        if descriptors is None:
            return [None] * len(self._rows)
        if isinstance(descriptors, dict):
            missing = [g for g in self.groups_ if g not in descriptors]
            if missing:
                raise ValueError(f"descriptors has no entry for the groups {missing[:5]}.")
            return [np.asarray(descriptors[g], dtype=float) for g in self.groups_]
        table = np.asarray(descriptors, dtype=float)
        if table.ndim != 2 or table.shape[0] != len(self._rows):
            raise ValueError(
                f"descriptors must have one row per group ({len(self._rows)} groups, in sorted "
                f"order); got shape {table.shape}."
            )
        return list(table)

    def __len__(self) -> int:
        if self.n_passes is None:
            raise TypeError("This GroupedTasks is endless (n_passes=None) and has no length.")
        return len(self._rows) * self.n_passes

    def __iter__(self) -> Iterator[Task]:
        n_groups = len(self._rows)
        n_items = 0 if not n_groups else None if self.n_passes is None else n_groups * self.n_passes
        return _ResumableStream(_episode_seed(self.random_state), self._task, n_items)

    @property
    def _draws_endlessly(self) -> bool:
        return self.n_passes is None

    def _task(self, rng: np.random.Generator, index: int) -> Task:
        """The ``index``-th task of the iteration: group ``index % n_groups``, split anew."""
        k = index % len(self._rows)
        group, rows, descriptor = self.groups_[k], self._rows[k], self.descriptors[k]
        s, q = _split_rows(
            self.y[rows], self.n_support, self.stratify, rng, f"task (group) {group.tolist()!r}"
        )
        return Task(self.X[rows[s]], self.y[rows[s]], self.X[rows[q]], self.y[rows[q]], descriptor)


def tasks_from_groups(
    X: Any,
    y: Any,
    groups: Any,
    n_support: int | float = 0.5,
    *,
    stratify: bool | str = "auto",
    descriptors: Any = None,
    random_state: Any = None,
) -> list[Task]:
    """Turn rows grouped into tasks into a list of `Task`, one per group.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
    y : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,)
        The task each row belongs to (any label type); tasks come out in sorted group order.
    n_support : int or float, default=0.5
        Support examples per task (per class when stratified), or a fraction of its rows.
        The remaining rows of the task form its query set.
    stratify : bool or "auto", default="auto"
        Split each class separately ("auto": when ``y`` holds class labels).
    descriptors : array-like of shape (n_groups, n_descriptor) or dict, default=None
        Task descriptors z_i.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    tasks : list of Task

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.tasks import tasks_from_groups
    >>> X = np.arange(24.0).reshape(12, 2)
    >>> y = np.linspace(0, 1, 12)
    >>> groups = np.repeat(["school A", "school B"], 6)
    >>> tasks = tasks_from_groups(X, y, groups, n_support=4, random_state=0)
    >>> [(t.n_support, t.n_query) for t in tasks]
    [(4, 2), (4, 2)]
    """
    return list(
        GroupedTasks(
            X,
            y,
            groups,
            n_support,
            stratify=stratify,
            descriptors=descriptors,
            random_state=random_state,
        )
    )


def split_tasks(
    *arrays: Any,
    groups: Any = None,
    test_size: float | int = 0.25,
    random_state: Any = None,
) -> list[Any]:
    """Split data into meta-train and meta-test parts by task, never by row.

    Works like `sklearn.model_selection.train_test_split`, but the unit that is split is a
    task: all rows of a group end up on the same side, so no task leaks across the split.
    For few-shot classification from a pool of classes (Omniglot), pass ``groups=y``:
    the meta-test classes are then unseen at meta-training. Call it twice for a
    train / validation / test split.

    Parameters
    ----------
    *arrays : sequence of array-likes of the same length, or one list of `Task`
    groups : array-like of shape (n_samples,), default=None
        The task of each row. None treats each element as a task of its own (for a list
        of `Task` objects).
    test_size : float or int, default=0.25
        Fraction (float) or number (int) of tasks in the test part.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    splitting : list
        ``[a_train, a_test, b_train, b_test, ...]``, as `train_test_split` does.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.tasks import split_tasks
    >>> X, y = np.zeros((12, 2)), np.repeat([0, 1, 2, 3], 3)
    >>> X_tr, X_te, y_tr, y_te = split_tasks(X, y, groups=y, test_size=0.5, random_state=0)
    >>> set(y_tr) & set(y_te)
    set()
    """
    if not arrays:
        raise ValueError("split_tasks needs at least one array (or a list of tasks).")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise ValueError(
                f"All arrays must have the same length; got {[len(a) for a in arrays]}."
            )
    units = np.arange(n) if groups is None else _as_targets(groups, n, "groups")
    n_units = np.unique(units).shape[0]
    if n_units < 2:
        raise ValueError(f"Splitting by task needs at least two tasks; got {n_units}.")
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=random_state)
    train, test = next(splitter.split(np.zeros((n, 1)), groups=units))
    out: list[Any] = []
    for a in arrays:
        if isinstance(a, list):
            out += [[a[i] for i in train], [a[i] for i in test]]
        else:  # as train_test_split: DataFrames and Series keep their type and columns
            a = a if hasattr(a, "iloc") else np.asarray(a)
            out += [_safe_indexing(a, train), _safe_indexing(a, test)]
    return out


def _pair_to_task(
    pair: Any,
    n_shot: int | None,
    rng: np.random.Generator,
    index: int,
    stratify: bool | str = "auto",
) -> Task:
    try:
        X, y = pair
    except (TypeError, ValueError):
        hint = (
            " To meta-train on arrays, pass them as separate arguments: meta_fit(X, y), "
            "or meta_fit(X, y, groups) (a tuple is read as a collection of tasks)."
            if isinstance(pair, np.ndarray)
            else ""
        )
        raise TypeError(
            f"Task {index} is a {type(pair).__name__}; expected a skmeta.tasks.Task or an "
            f"(X, y) pair.{hint}"
        ) from None
    X = _as_samples(X, f"X of task {index}")
    y = _as_targets(y, X.shape[0], f"y of task {index}")
    if stratify == "auto":
        stratify = _is_classification(y) and n_shot is not None
    n_support = n_shot if stratify and n_shot is not None else 0.5
    s, q = _split_rows(y, n_support, bool(stratify), rng, f"task {index}")
    return Task(X[s], y[s], X[q], y[q])


def iter_tasks(
    tasks: Iterable[Any],
    *,
    n_shot: int | None = None,
    random_state: Any = None,
    stratify: bool | str = "auto",
) -> Iterator[Task]:
    """Yield `Task` objects from any accepted form of a task collection, endlessly.

    A finite, re-iterable collection (a list, a sampler with ``n_episodes``) is cycled
    over; an endless sampler is read as it comes; a one-shot iterator stops when it is
    exhausted. ``(X, y)`` pairs are split into support and query anew on each pass:
    with ``stratify=True``, ``n_shot`` examples of each class (half of each class's
    without ``n_shot``) go to the support set; with ``stratify=False``, half of the rows;
    ``"auto"`` stratifies integer, string and boolean labels when ``n_shot`` is given
    (a classifier passes True, a regressor False, whatever ``y``'s type). An endless
    `EpisodeSampler`, `GroupedTasks` or synthetic task family (``SinusoidTasks``,
    ``LinearTasks``) is read through its own iterator, which can save and restore its
    position (what a checkpoint of ``meta_fit`` keeps).

    Examples
    --------
    >>> import numpy as np
    >>> from itertools import islice
    >>> from skmeta.tasks import iter_tasks
    >>> pairs = [(np.ones((6, 2)), [0, 0, 0, 1, 1, 1])]
    >>> [t.n_support for t in islice(iter_tasks(pairs, n_shot=1), 3)]
    [2, 2, 2]
    """
    if isinstance(tasks, Task):
        raise TypeError(
            "Got a single Task; meta-training needs many tasks. Pass a list of tasks or a "
            "sampler such as skmeta.tasks.EpisodeSampler."
        )
    if isinstance(tasks, np.ndarray) or not isinstance(tasks, Iterable):
        raise TypeError(
            f"Expected an iterable of tasks (Task objects or (X, y) pairs), or arrays "
            f"(X, y, groups); got {type(tasks).__name__}. To meta-train on a labelled pool, "
            "call meta_fit(X, y) or meta_fit(X, y, groups)."
        )
    if getattr(tasks, "_draws_endlessly", False):
        return iter(tasks)
    return _cycled(tasks, n_shot, random_state, stratify)


def _cycled(
    tasks: Iterable[Any], n_shot: int | None, random_state: Any, stratify: bool | str
) -> Iterator[Task]:
    """`iter_tasks` for collections that are cycled over or read once."""
    rng = np.random.default_rng(_episode_seed(random_state))
    one_shot = iter(tasks) is tasks
    while True:
        n = 0
        for n, item in enumerate(tasks, start=1):
            if isinstance(item, Task):
                yield item
            else:
                yield _pair_to_task(item, n_shot, rng, n - 1, stratify)
        if n == 0:
            raise ValueError("The task collection is empty.")
        if one_shot:
            return
