"""Hyper-parameter search as meta-learning, on Optuna.

`MetaSearch` chooses an estimator's hyper-parameters for a *distribution of tasks*: each
configuration is meta-trained on the training tasks and scored by its mean score over
held-out validation tasks, with Optuna's `~optuna.pruners.WilcoxonPruner` stopping bad
configurations after a few tasks. Studies persist in any Optuna storage, resume after a
crash, and are shared by many worker processes. `WarmStart` seeds a new search from the
earlier ones (the table of scores P(θ_i, t_j)): the best configurations of the most
similar earlier task collections, by `task_meta_features`, or a greedy portfolio.
"""

from ._search import MetaSearch, open_storage
from ._warmstart import WarmStart, performance_regret, task_distances, task_meta_features

__all__ = [
    "MetaSearch",
    "WarmStart",
    "open_storage",
    "performance_regret",
    "task_distances",
    "task_meta_features",
]
