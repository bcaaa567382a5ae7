"""The School multi-task regression benchmark (ILEA exam scores, 139 schools)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._home import DATA_ENV, get_data_home

EMBEDDED_PATH = Path(__file__).parent / "data" / "school.npz"
SOURCE_FILE = "mtl/school.npz"

# The column groups follow Argyriou, Evgeniou & Pontil (2008); the order of the categories
# inside each one-hot group is not documented by the source, hence numbered names.
FEATURE_NAMES = (
    [f"year_{i}" for i in range(3)]
    + ["free_meals_pct", "vr_band1_pct"]
    + [f"gender_{i}" for i in range(2)]
    + [f"vr_band_{i}" for i in range(3)]
    + [f"ethnic_group_{i}" for i in range(11)]
    + [f"school_gender_{i}" for i in range(3)]
    + [f"school_denomination_{i}" for i in range(3)]
    + ["bias"]
)

_DESCR = """\
School data (Goldstein, 1991): exam scores of 15,362 pupils from 139 secondary schools of
the Inner London Education Authority in 1985-1987, in the encoding of Argyriou, Evgeniou &
Pontil (2008) and the MALSAR toolbox. One task per school; the target is the exam score
(1..70).

Columns: 0-2 exam year (one-hot); 3 percentage of the school's pupils eligible for free
school meals; 4 percentage of the school's pupils in verbal-reasoning (VR) band 1; 5-6
pupil gender (one-hot); 7-9 pupil VR band (one-hot; 15 pupils have none); 10-20 pupil
ethnic group (one-hot, 11 groups); 21-23 school gender (one-hot: mixed, then the two
single-sex kinds); 24-26 school denomination (one-hot); 27 bias (constant 1). Otherwise
the order of the categories inside a one-hot group is not documented by the source.

Usual protocol: 10 random 75/25 splits within each school, reporting the explained
variance 1 - MSE / Var(y_test) averaged over the splits.
"""


def load_school(
    data_home: str | os.PathLike | None = None, *, return_X_y: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | Bunch:
    """Load the School data, the classic multi-task regression benchmark.

    Exam scores of 15,362 pupils from 139 London schools; each school is one task. The
    data ship with skmeta.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Read ``mtl/school.npz`` from this folder (or from ``$SKMETA_DATA`` when set) when it
        holds the file, else use the copy shipped with skmeta.
    return_X_y : bool, default=True
        Return ``(X, y, groups)``; if False, a :class:`~sklearn.utils.Bunch`.

    Returns
    -------
    X : ndarray of shape (15362, 28), float64
        27 school and pupil attributes and a constant bias column (last).
    y : ndarray of shape (15362,), float64
        Exam score, 1 to 70.
    groups : ndarray of shape (15362,), int64
        School (task) of each row, 0 to 138.
    data : :class:`~sklearn.utils.Bunch`
        When ``return_X_y=False``: ``data`` (X), ``target`` (y), ``groups``,
        ``feature_names`` and ``DESCR`` (which describes the columns).

    See Also
    --------
    sklearn.model_selection.GroupKFold : Split by school, so that no task leaks.

    References
    ----------
    .. [1] H. Goldstein, "Multilevel modelling of survey data", The Statistician 40, 1991.
    .. [2] A. Argyriou, T. Evgeniou and M. Pontil, "Convex multi-task feature learning",
       Machine Learning 73(3), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.datasets import load_school
    >>> X, y, groups = load_school()
    >>> X.shape, np.unique(groups).size
    ((15362, 28), 139)
    """
    path = EMBEDDED_PATH
    if data_home is not None or os.environ.get(DATA_ENV):
        candidate = get_data_home(data_home) / SOURCE_FILE
        if candidate.is_file():
            path = candidate
    with np.load(path, allow_pickle=False) as f:
        X = f["X"].astype(np.float64)
        y = f["y"].astype(np.float64)
        groups = f["task"].astype(np.int64)
    if return_X_y:
        return X, y, groups
    return Bunch(
        data=X, target=y, groups=groups, feature_names=np.array(FEATURE_NAMES), DESCR=_DESCR
    )
