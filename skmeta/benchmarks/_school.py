"""The School protocol: random splits within each school, explained variance, baselines."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeCV

#: Ridge penalties searched by the ridge baselines (leave-one-out).
RIDGE_ALPHAS = np.logspace(-2, 4, 13)

#: The network of the School benchmarks: one hidden layer of 32, early stopping.
SCHOOL_NETWORK = dict(
    hidden_layer_sizes=(32,),
    batch_size=128,
    alpha=1e-4,
    early_stopping=True,
    validation_fraction=0.1,
    n_iter_no_change=5,
    max_epochs=100,
)


def split_within_tasks(groups: np.ndarray, test_size: float, seed: int) -> np.ndarray:
    """A boolean test mask holding out ``test_size`` of each task's rows.

    The protocol of Argyriou, Evgeniou & Pontil (2008) for School: every school appears in
    training and in test, with different pupils.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.benchmarks import split_within_tasks
    >>> test = split_within_tasks(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25, seed=0)
    >>> int(test[:4].sum()), int(test[4:].sum())
    (1, 1)
    """
    rng = np.random.default_rng(seed)
    test = np.zeros(groups.shape[0], dtype=bool)
    for t in np.unique(groups):
        rows = rng.permutation(np.flatnonzero(groups == t))
        test[rows[: int(round(test_size * rows.shape[0]))]] = True
    return test


def explained_variance(y: np.ndarray, pred: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """(pooled over all rows, mean over tasks) of ``1 - MSE / Var(y)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.benchmarks import explained_variance
    >>> y, groups = np.array([0.0, 2.0, 1.0, 3.0]), np.array([0, 0, 1, 1])
    >>> explained_variance(y, y, groups)
    (1.0, 1.0)
    """
    pooled = 1.0 - np.mean((y - pred) ** 2) / np.var(y)
    per_task = []
    for t in np.unique(groups):
        rows = groups == t
        if np.var(y[rows]) > 0:
            per_task.append(1.0 - np.mean((y[rows] - pred[rows]) ** 2) / np.var(y[rows]))
    return float(pooled), float(np.mean(per_task))


def independent_ridge(X_train, y_train, g_train, X_test, g_test) -> np.ndarray:
    """Predictions of one `~sklearn.linear_model.RidgeCV` per task (no sharing).

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.benchmarks import independent_ridge
    >>> X, g = np.arange(8.0).reshape(-1, 1), np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> pred = independent_ridge(X, 2 * X[:, 0] + 10 * g, g, X, g)
    >>> bool(np.allclose(pred, 2 * X[:, 0] + 10 * g, atol=0.1))
    True
    """
    pred = np.zeros(X_test.shape[0])
    for t in np.unique(g_train):
        rows = g_test == t
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(X_train[g_train == t], y_train[g_train == t])
        pred[rows] = model.predict(X_test[rows])
    return pred
