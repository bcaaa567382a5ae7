"""skmeta: meta-learning and multi-task learning with a scikit-learn API, on torch.

Estimators learn a prior from many related tasks with ``meta_fit(tasks)``, adapt to a new
task's few labelled examples with ``fit(X, y)``, and ``predict``.
"""

from .base import Prior
from .blackbox import BlackBoxClassifier, BlackBoxRegressor
from .metric import (
    MatchingNetClassifier,
    ProtoNetClassifier,
    RelationNetClassifier,
    SiameseClassifier,
)
from .multitask import MultiTaskClassifier, MultiTaskRegressor
from .optimization import (
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    ReptileClassifier,
    ReptileRegressor,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "BlackBoxClassifier",
    "BlackBoxRegressor",
    "FineTuneClassifier",
    "MAMLClassifier",
    "MAMLRegressor",
    "MatchingNetClassifier",
    "MultiTaskClassifier",
    "MultiTaskRegressor",
    "Prior",
    "ProtoNetClassifier",
    "RelationNetClassifier",
    "ReptileClassifier",
    "ReptileRegressor",
    "SiameseClassifier",
    "__version__",
]
