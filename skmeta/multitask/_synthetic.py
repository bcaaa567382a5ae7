"""Synthetic task families where the right way to share is known."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils import check_random_state

KINDS = ("bias", "gating", "unrelated")


def make_task_family(
    kind: str,
    *,
    n_tasks: int = 10,
    n_samples_per_task: int = 40,
    n_features: int = 6,
    noise: float = 0.1,
    random_state: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regression tasks that share in a known way, to check what a conditioning can do.

    x ~ N(0, I) in every task; the targets are

    * ``"bias"``: y = f(x) + b_i, one nonlinear f for all tasks, a task offset
      b_i ~ N(0, 1): an additive conditioning is the true model;
    * ``"gating"``: y = sin(Σ_{k ∈ S_i} x_k), each task reading its own random half S_i
      of the features through one shared nonlinearity: task-specific gating of units;
    * ``"unrelated"``: y = x · w_i with independent w_i ~ N(0, I): nothing to share, so
      forcing tasks to share causes negative transfer.

    Parameters
    ----------
    kind : {"bias", "gating", "unrelated"}
    n_tasks : int, default=10
    n_samples_per_task : int, default=40
    n_features : int, default=6
    noise : float, default=0.1
        Standard deviation of Gaussian noise added to y.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : ndarray of shape (n_tasks * n_samples_per_task, n_features)
    y : ndarray of shape (n_tasks * n_samples_per_task,)
    groups : ndarray of shape (n_tasks * n_samples_per_task,)
        The task of each row, 0 to n_tasks - 1.

    Examples
    --------
    >>> from skmeta.multitask import make_task_family
    >>> X, y, groups = make_task_family("bias", n_tasks=3, n_samples_per_task=5, random_state=0)
    >>> X.shape, y.shape, sorted(set(groups.tolist()))
    ((15, 6), (15,), [0, 1, 2])
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    rng = check_random_state(random_state)
    groups = np.repeat(np.arange(n_tasks), n_samples_per_task)
    X = rng.normal(size=(groups.shape[0], n_features))
    if kind == "bias":
        w = rng.normal(size=n_features) / np.sqrt(n_features)
        offsets = rng.normal(size=n_tasks)
        y = np.sin(2.0 * X @ w) + 0.5 * (X[:, 0] * X[:, 1]) + offsets[groups]
    elif kind == "gating":
        w = rng.normal(size=n_features) / np.sqrt(n_features)
        gains = rng.choice([-1.0, 1.0], size=n_tasks) * rng.uniform(0.5, 2.0, size=n_tasks)
        y = gains[groups] * np.sin(2.0 * X @ w)
    else:
        w = rng.normal(size=(n_tasks, n_features))
        y = np.sum(w[groups] * X, axis=1)
    return X, y + noise * rng.normal(size=y.shape[0]), groups
