"""Episode samplers: N-way K-shot tasks drawn from a labelled pool."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from itertools import islice
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

from ._task import Task, _as_samples, _as_targets


def _class_index(y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unique labels and, for each, the row indices that carry it."""
    classes, inverse = np.unique(y, return_inverse=True)
    if classes.shape[0] == 0:
        return classes, []
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=classes.shape[0]))[:-1]
    return classes, np.split(order, bounds)


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def _episode_seed(random_state: Any) -> Any:
    """The seed an iteration starts from: the same sequence on every `iter()` for an int."""
    if random_state is None or isinstance(random_state, Integral):
        return random_state
    return check_random_state(random_state).randint(np.iinfo(np.int32).max)


class _ResumableStream(Iterator):
    """An iteration over tasks whose position can be saved and restored in O(1).

    ``meta_fit`` stores `get_state` in its checkpoint and resumes with `set_state`
    instead of drawing (and discarding) every task it has already trained on, which
    grows with the run. The state is a JSON string: the random generator's state and
    the count of items drawn.
    """

    resumable = True

    def __init__(self, seed: Any, draw: Callable[[np.random.Generator, int], Any], n_items):
        self._rng = np.random.default_rng(seed)
        self._draw, self._n_items, self._drawn = draw, n_items, 0

    def __next__(self) -> Any:
        if self._n_items is not None and self._drawn >= self._n_items:
            raise StopIteration
        item = self._draw(self._rng, self._drawn)
        self._drawn += 1
        return item

    def get_state(self) -> str:
        return json.dumps({"rng": self._rng.bit_generator.state, "drawn": self._drawn})

    def set_state(self, state: str) -> None:
        saved = json.loads(state)
        self._rng.bit_generator.state = saved["rng"]
        self._drawn = int(saved["drawn"])


class _TooFewClassesError(ValueError):
    """The pool has fewer classes than an episode's ways (a learner may reword it)."""

    def __init__(self, message: str, n_classes: int | None = None) -> None:
        super().__init__(message)
        self.n_classes = n_classes


class EpisodeSampler:
    """Draw N-way K-shot episodes from a labelled pool.

    Each episode picks ``n_way`` classes at random, then ``n_shot`` support and ``n_query``
    query examples of each, and relabels the chosen classes ``0..n_way-1`` in a random
    order (so that a learner cannot memorise a fixed class-to-output assignment). The
    original labels stay available as ``task.classes``.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The pool of inputs (2-D tabular, or images).
    y : array-like of shape (n_samples,)
        Class labels of any type.
    n_way : int, default=5
        Classes per episode.
    n_shot : int, default=1
        Support examples per class.
    n_query : int, default=15
        Query examples per class.
    n_episodes : int, default=None
        Number of episodes one pass yields; None for an endless stream.
    random_state : int, RandomState instance or None, default=None
        With an int, every ``iter(sampler)`` yields the same episodes.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.tasks import EpisodeSampler
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = np.repeat(["cat", "dog", "emu", "fox"], 5)
    >>> sampler = EpisodeSampler(X, y, n_way=3, n_shot=2, n_query=3, n_episodes=10,
    ...                          random_state=0)
    >>> task = next(iter(sampler))
    >>> task.X_support.shape, task.X_query.shape, task.y_support.tolist()
    ((6, 2), (9, 2), [0, 0, 1, 1, 2, 2])
    >>> len(sampler)
    10
    """

    def __init__(
        self,
        X: Any,
        y: Any,
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        n_episodes: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.n_way = _check_positive_int(n_way, "n_way")
        self.n_shot = _check_positive_int(n_shot, "n_shot")
        self.n_query = _check_positive_int(n_query, "n_query", minimum=0)
        if n_episodes is not None:
            n_episodes = _check_positive_int(n_episodes, "n_episodes")
        self.n_episodes = n_episodes
        self.random_state = random_state
        self.X = _as_samples(X, "X")
        self.y = _as_targets(y, self.X.shape[0], "y")
        check_classification_targets(self.y)  # episodes need classes, not real values
        self.classes_, self._rows = _class_index(self.y)
        if self.classes_.shape[0] < self.n_way:
            raise _TooFewClassesError(
                f"n_way={self.n_way} but the pool has only {self.classes_.shape[0]} classes; "
                "lower n_way or add classes.",
                self.classes_.shape[0],
            )
        need = self.n_shot + self.n_query
        counts = np.array([rows.shape[0] for rows in self._rows])
        short = np.flatnonzero(counts < need)
        if short.size:
            listed = ", ".join(f"{self.classes_[i].tolist()!r} ({counts[i]})" for i in short[:5])
            more = f" and {short.size - 5} more" if short.size > 5 else ""
            raise ValueError(
                f"Every class needs n_shot + n_query = {self.n_shot} + {self.n_query} = {need} "
                f"examples, but {short.size} classes have fewer: {listed}{more}. Lower n_shot "
                "or n_query, or drop those classes from the pool."
            )

    def __len__(self) -> int:
        if self.n_episodes is None:
            raise TypeError(
                "This EpisodeSampler is endless (n_episodes=None) and has no length; "
                "pass n_episodes=... or take a finite slice with itertools.islice."
            )
        return self.n_episodes

    def __iter__(self) -> Iterator[Task]:
        return _ResumableStream(
            _episode_seed(self.random_state), lambda rng, _: self._draw(rng), self.n_episodes
        )

    @property
    def _draws_endlessly(self) -> bool:
        # (iter_tasks reads an endless sampler through its own, resumable, iterator)
        return self.n_episodes is None

    def _draw(self, rng: np.random.Generator) -> Task:
        chosen = rng.choice(self.classes_.shape[0], size=self.n_way, replace=False)
        support, query = [], []
        for c in chosen:
            rows = self._rows[c]
            picked = rows[rng.choice(rows.shape[0], size=self.n_shot + self.n_query, replace=False)]
            support.append(picked[: self.n_shot])
            query.append(picked[self.n_shot :])
        s, q = np.concatenate(support), np.concatenate(query)
        labels = np.arange(self.n_way)
        return Task(
            self.X[s],
            np.repeat(labels, self.n_shot),
            self.X[q],
            np.repeat(labels, self.n_query),
            classes=self.classes_[chosen],
        )

    def sample(self, n: int) -> list[Task]:
        """Return the first ``n`` episodes of a fresh pass as a list."""
        return list(islice(iter(self), n))

    def __repr__(self) -> str:
        return (
            f"EpisodeSampler(n_way={self.n_way}, n_shot={self.n_shot}, n_query={self.n_query}, "
            f"n_episodes={self.n_episodes}, n_classes={self.classes_.shape[0]}, "
            f"random_state={self.random_state!r})"
        )
