"""The sinusoid regression task family of the MAML paper (Finn, Abbeel & Levine, 2017)."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from skmeta.tasks import Task
from skmeta.tasks._sampler import _ResumableStream

_RandomState = int | np.random.RandomState | np.random.Generator | None


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}.")
    return int(value)


def _check_range(name: str, value: Any) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers; got {value!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and low <= high):
        raise ValueError(f"{name} must be finite with low <= high; got {value!r}.")
    return low, high


class _TaskFamily:
    """Shared behaviour of the synthetic task families: repr, len, iteration, sampling."""

    _repr_names: tuple[str, ...] = ()

    def __repr__(self) -> str:
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr_names)
        return f"{type(self).__name__}({params})"

    def __len__(self) -> int:
        if self.n_tasks is None:
            raise TypeError(
                f"{type(self).__name__} with n_tasks=None is an endless stream and has no "
                "len(); pass n_tasks=... for a finite one, or draw a list with sample(n)."
            )
        return _check_int("n_tasks", self.n_tasks, 1)

    def __iter__(self) -> Iterator[Task]:
        return self._generate(self.n_tasks)

    @property
    def _draws_endlessly(self) -> bool:
        # (iter_tasks reads an endless family through its own, resumable, iterator)
        return self.n_tasks is None

    def sample(self, n: int) -> list[Task]:
        """Draw a list of ``n`` tasks.

        With an int ``random_state`` these are the first ``n`` tasks of an iteration,
        whatever ``n_tasks`` is.

        Parameters
        ----------
        n : int
            Number of tasks, at least 1.

        Returns
        -------
        tasks : list of Task

        Examples
        --------
        >>> from skmeta.datasets import SinusoidTasks
        >>> tasks = SinusoidTasks(random_state=0).sample(3)
        >>> [task.n_support for task in tasks]
        [10, 10, 10]
        """
        return list(self._generate(_check_int("n", n, 1)))

    def _generate(self, n_tasks: int | None) -> Iterator[Task]:
        """Check the parameters, then return an iterator over ``n_tasks`` tasks (None:
        endless), so that bad parameters raise at ``iter()`` or `sample` rather than at
        the first ``next()``.

        With an int or None ``random_state`` it is a resumable stream, whose position a
        `meta_fit` checkpoint saves and restores instead of drawing every task again; a
        generator given as ``random_state`` is drawn from as it is.
        """
        if self.n_tasks is not None:
            _check_int("n_tasks", self.n_tasks, 1)
        draw = self._drawer()
        source = self._seed_or_rng()
        if not isinstance(source, (np.random.Generator, np.random.RandomState)):
            return _ResumableStream(source, lambda rng, _: draw(rng), n_tasks)

        def generate() -> Iterator[Task]:
            drawn = 0
            while n_tasks is None or drawn < n_tasks:
                yield draw(source)
                drawn += 1

        return generate()

    def _drawer(self) -> Callable[[Any], Task]:
        """Check the family's parameters; return ``draw(rng)``, which draws one task."""
        raise NotImplementedError

    def _seed_or_rng(self) -> int | None | np.random.Generator | np.random.RandomState:
        random_state = self.random_state
        if random_state is None:
            return None
        if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
            if random_state < 0:
                raise ValueError(f"random_state must be a non-negative int; got {random_state}.")
            return int(random_state)
        if isinstance(random_state, (np.random.Generator, np.random.RandomState)):
            return random_state
        raise ValueError(
            "random_state must be None, an int, a numpy.random.Generator or a "
            f"numpy.random.RandomState; got {random_state!r}."
        )


class SinusoidTasks(_TaskFamily):
    """Sinusoid regression tasks, the toy task family of MAML.

    Each task is the curve ``y = amplitude * sin(x - phase)`` with its own amplitude and
    phase drawn uniformly from ``amplitude_range`` and ``phase_range``; its support and
    query inputs are drawn uniformly from ``x_range``. The defaults are those of Finn et al.
    (2017): amplitude in [0.1, 5], phase in [0, pi], x in [-5, 5].

    Iterating yields :class:`~skmeta.tasks.Task` objects, endlessly unless ``n_tasks`` is
    given; each task's ``descriptor`` is ``[amplitude, phase]``. With an int
    ``random_state`` every iteration yields the same tasks.

    Parameters
    ----------
    n_support : int, default=10
        Examples in each task's support set (K in "K-shot regression"); at least 1.
    n_query : int, default=10
        Examples in each task's query set; may be 0.
    n_tasks : int, default=None
        Number of tasks an iteration yields; None for an endless stream.
    amplitude_range : (float, float), default=(0.1, 5.0)
        Interval of the amplitudes.
    phase_range : (float, float), default=(0.0, pi)
        Interval of the phases.
    x_range : (float, float), default=(-5.0, 5.0)
        Interval of the inputs.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, \
default=None
        An int seeds a new generator at each iteration, so that every iteration yields the
        same tasks. A generator is drawn from as is, and None draws fresh tasks.

    See Also
    --------
    skmeta.tasks.EpisodeSampler : Classification episodes drawn from a labelled pool.

    Notes
    -----
    Parameters are checked when tasks are drawn (scikit-learn style), so that an invalid
    value raises a ValueError at ``iter()`` or :meth:`sample`.

    References
    ----------
    .. [1] C. Finn, P. Abbeel and S. Levine, "Model-Agnostic Meta-Learning for Fast
       Adaptation of Deep Networks", ICML 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.datasets import SinusoidTasks
    >>> tasks = SinusoidTasks(n_support=5, n_query=20, n_tasks=100, random_state=0)
    >>> len(tasks)
    100
    >>> task = next(iter(tasks))
    >>> task.X_support.shape, task.y_support.shape, task.X_query.shape
    ((5, 1), (5,), (20, 1))
    >>> y = SinusoidTasks.true_function(task.descriptor, task.X_query)
    >>> bool(np.allclose(y, task.y_query))
    True
    """

    _repr_names = (
        "n_support",
        "n_query",
        "n_tasks",
        "amplitude_range",
        "phase_range",
        "x_range",
        "random_state",
    )

    def __init__(
        self,
        n_support: int = 10,
        n_query: int = 10,
        n_tasks: int | None = None,
        *,
        amplitude_range: tuple[float, float] = (0.1, 5.0),
        phase_range: tuple[float, float] = (0.0, np.pi),
        x_range: tuple[float, float] = (-5.0, 5.0),
        random_state: _RandomState = None,
    ) -> None:
        self.n_support = n_support
        self.n_query = n_query
        self.n_tasks = n_tasks
        self.amplitude_range = amplitude_range
        self.phase_range = phase_range
        self.x_range = x_range
        self.random_state = random_state

    @staticmethod
    def true_function(descriptor: npt.ArrayLike, x: npt.ArrayLike) -> np.ndarray:
        """The noise-free curve ``amplitude * sin(x - phase)`` of a task, e.g. to plot it.

        Parameters
        ----------
        descriptor : array-like of shape (2,)
            ``[amplitude, phase]``, as in a task's ``descriptor``.
        x : array-like of shape (n,) or (n, 1)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n,)

        Examples
        --------
        >>> import numpy as np
        >>> from skmeta.datasets import SinusoidTasks
        >>> SinusoidTasks.true_function([2.0, 0.0], [0.0, np.pi / 2])
        array([0., 2.])
        """
        amplitude, phase = np.asarray(descriptor, dtype=np.float64)
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        return amplitude * np.sin(x - phase)

    def _drawer(self) -> Callable[[Any], Task]:
        n_support = _check_int("n_support", self.n_support, 1)
        n_query = _check_int("n_query", self.n_query, 0)
        amplitude_range = _check_range("amplitude_range", self.amplitude_range)
        phase_range = _check_range("phase_range", self.phase_range)
        x_range = _check_range("x_range", self.x_range)

        def draw(rng: Any) -> Task:
            amplitude = rng.uniform(*amplitude_range)
            phase = rng.uniform(*phase_range)
            X = rng.uniform(*x_range, size=(n_support + n_query, 1))
            y = amplitude * np.sin(X[:, 0] - phase)
            return Task(
                X[:n_support],
                y[:n_support],
                X[n_support:],
                y[n_support:],
                descriptor=np.array([amplitude, phase]),
            )

        return draw
