"""Linear regression tasks whose input scale sets the best adaptation step size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from skmeta.tasks import Task

from ._sinusoid import _check_int, _RandomState, _TaskFamily


def _check_positive(name: str, value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}.") from None
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number; got {value!r}.")
    return value


class LinearTasks(_TaskFamily):
    """Linear regression tasks ``y = x·w + noise`` around a shared weight vector.

    Each task draws its weights ``w ~ N(w_mean, weight_std² I)``, with ``w_mean`` spread
    evenly over [-1, 1], and its inputs ``x ~ N(0, input_scale² I)``. A family designed
    for hyper-parameter search over tasks: the curvature of the squared loss grows with
    ``input_scale²``, so the best gradient step size for adapting to a task (e.g. a MAML
    ``inner_lr``) shrinks as ``1 / input_scale²``, and families of different scales want
    different hyper-parameters while their meta-features (the input spread) tell them
    apart.

    Parameters
    ----------
    n_support : int, default=10
    n_query : int, default=20
    n_tasks : int, default=None
        Tasks an iteration yields; None for an endless stream.
    n_features : int, default=5
    input_scale : float, default=1.0
        Standard deviation of every input feature.
    weight_std : float, default=1.0
        Spread of the task weights around their mean.
    noise : float, default=0.1
        Standard deviation of the target noise.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, \
default=None
        An int yields the same tasks on every iteration.

    Examples
    --------
    >>> from skmeta.datasets import LinearTasks
    >>> task = LinearTasks(n_features=3, input_scale=2.0, random_state=0).sample(1)[0]
    >>> task.X_support.shape, task.X_query.shape, task.descriptor.shape
    ((10, 3), (20, 3), (3,))
    """

    _repr_names = (
        "n_support",
        "n_query",
        "n_tasks",
        "n_features",
        "input_scale",
        "weight_std",
        "noise",
        "random_state",
    )

    def __init__(
        self,
        n_support: int = 10,
        n_query: int = 20,
        n_tasks: int | None = None,
        *,
        n_features: int = 5,
        input_scale: float = 1.0,
        weight_std: float = 1.0,
        noise: float = 0.1,
        random_state: _RandomState = None,
    ) -> None:
        self.n_support = n_support
        self.n_query = n_query
        self.n_tasks = n_tasks
        self.n_features = n_features
        self.input_scale = input_scale
        self.weight_std = weight_std
        self.noise = noise
        self.random_state = random_state

    def _drawer(self) -> Callable[[Any], Task]:
        n_support = _check_int("n_support", self.n_support, 1)
        n_query = _check_int("n_query", self.n_query, 0)
        d = _check_int("n_features", self.n_features, 1)
        scale = _check_positive("input_scale", self.input_scale)
        weight_std = _check_positive("weight_std", self.weight_std)
        noise = _check_positive("noise", self.noise)
        w_mean = np.linspace(-1.0, 1.0, d)

        def draw(rng: Any) -> Task:
            w = w_mean + weight_std * rng.normal(size=d)
            X = scale * rng.normal(size=(n_support + n_query, d))
            y = X @ w + noise * rng.normal(size=n_support + n_query)
            return Task(X[:n_support], y[:n_support], X[n_support:], y[n_support:], descriptor=w)

        return draw
