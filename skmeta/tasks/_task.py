"""The `Task`: one supervised problem, split into a support set and a query set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def _all_finite(X: np.ndarray) -> bool:
    """Whether every value of a float array is finite.

    A sum is finite only when every term is (NaN and infinities propagate), so one pass
    without a temporary decides the usual case in half the time of the elementwise check
    on a large pool (``benchmarks/pool_check.py``: the 258 MB Omniglot training pool, at
    each `meta_fit` on it); a sum that overflows goes to the elementwise check.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(X.sum()):
            return True
    return bool(np.all(np.isfinite(X)))


def _as_samples(X: Any, name: str) -> np.ndarray:
    X = np.asarray(X)
    if X.ndim == 1:
        raise ValueError(
            f"{name} must have one row per example (2-D, or 3-D/4-D for images); got a 1-D "
            f"array of shape {X.shape}. If each value is one example with a single feature, "
            "reshape it: X.reshape(-1, 1)."
        )
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name} must be numeric; got dtype {X.dtype}.") from exc
    if X.dtype.kind == "f" and not _all_finite(X):
        raise ValueError(
            f"{name} contains NaN or infinity. Impute or drop those values before building "
            "the task (e.g. with sklearn.impute.SimpleImputer)."
        )
    return X


def _as_targets(y: Any, n_rows: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one target per example); got shape {y.shape}.")
    if y.shape[0] != n_rows:
        what = "task id" if name == "groups" else "target"
        raise ValueError(
            f"{name} has {y.shape[0]} entries but the matching X has {n_rows} rows; "
            f"every example needs exactly one {what}."
        )
    if y.dtype.kind == "f" and not _all_finite(y):
        raise ValueError(f"{name} contains NaN or infinity.")
    _check_sortable(y, name, "id" if name == "groups" else "label")
    return y


def _check_sortable(values: np.ndarray, name: str, what: str) -> None:
    """Labels or ids of an object array must sort (np.unique): refuse mixed types."""
    if values.dtype.kind != "O":
        return
    try:
        np.unique(values)
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values.tolist()})
        raise ValueError(
            f"{name} mixes types ({', '.join(kinds)}), which cannot be sorted; use one type "
            f"for every {what} (e.g. all strings: np.asarray({name}).astype(str))."
        ) from None


@dataclass(frozen=True, eq=False, repr=False)
class Task:
    """One task: a support set to adapt on and a query set to evaluate on.

    Parameters
    ----------
    X_support : array-like of shape (n_support, ...)
        Support inputs: 2-D for tabular data, ``(n, H, W)`` or ``(n, C, H, W)`` for images.
    y_support : array-like of shape (n_support,)
        Support targets: class labels of any type, or real values.
    X_query : array-like of shape (n_query, ...), default=None
        Query inputs, with the same per-example shape as ``X_support``.
    y_query : array-like of shape (n_query,), default=None
        Query targets. May be None at meta-test time when the labels are unknown.
    descriptor : array-like of shape (n_descriptor,), default=None
        The task descriptor z_i (task metadata, or None).
    classes : array-like, default=None
        For episodes whose labels were relabelled to ``0..n_way-1``: the original label
        of each relabelled class, so that ``classes[y]`` recovers them.

    Attributes
    ----------
    n_support, n_query : int
        Number of examples in each set.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.tasks import Task
    >>> task = Task(np.zeros((2, 3)), ["a", "b"], np.ones((4, 3)), ["a", "b", "b", "a"])
    >>> task.n_support, task.n_query, task.n_way
    (2, 4, 2)
    """

    X_support: np.ndarray
    y_support: np.ndarray
    X_query: np.ndarray | None = None
    y_query: np.ndarray | None = None
    descriptor: np.ndarray | None = None
    classes: np.ndarray | None = None

    def __post_init__(self) -> None:
        def set_(name: str, value: Any) -> None:  # frozen dataclass: store validated copies
            object.__setattr__(self, name, value)

        X_s = _as_samples(self.X_support, "X_support")
        set_("X_support", X_s)
        set_("y_support", _as_targets(self.y_support, X_s.shape[0], "y_support"))
        if X_s.shape[0] == 0:
            raise ValueError("X_support is empty; a task needs at least one support example.")
        if self.X_query is None:
            if self.y_query is not None:
                raise ValueError("y_query was given without X_query.")
        else:
            X_q = _as_samples(self.X_query, "X_query")
            if X_q.shape[1:] != X_s.shape[1:]:
                raise ValueError(
                    f"X_query examples have shape {X_q.shape[1:]} but X_support examples have "
                    f"shape {X_s.shape[1:]}; support and query must share one input space."
                )
            set_("X_query", X_q)
            if self.y_query is not None:
                set_("y_query", _as_targets(self.y_query, X_q.shape[0], "y_query"))
        if self.descriptor is not None:
            d = np.asarray(self.descriptor, dtype=np.float64)
            if d.ndim != 1:
                raise ValueError(f"descriptor must be a 1-D vector; got shape {d.shape}.")
            set_("descriptor", d)
        if self.classes is not None:
            set_("classes", np.asarray(self.classes))

    def __repr__(self) -> str:
        parts = [f"n_support={self.n_support}", f"n_query={self.n_query}"]
        if self.y_support.dtype.kind not in "f":
            parts.append(f"n_way={self.n_way}")
        parts.append(f"input_shape={self.X_support.shape[1:]}")
        if self.descriptor is not None:
            parts.append(f"descriptor={np.array2string(self.descriptor, precision=3)}")
        return f"Task({', '.join(parts)})"

    @property
    def n_support(self) -> int:
        return int(self.X_support.shape[0])

    @property
    def n_query(self) -> int:
        return 0 if self.X_query is None else int(self.X_query.shape[0])

    @property
    def n_way(self) -> int:
        """Number of distinct labels in the support set."""
        return int(np.unique(self.y_support).shape[0])

    @property
    def support(self) -> tuple[np.ndarray, np.ndarray]:
        return self.X_support, self.y_support

    @property
    def query(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        return self.X_query, self.y_query
