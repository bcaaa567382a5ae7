"""Optimization-based meta-learning: learned initialisations adapted by gradient steps,
and the fine-tuning baseline."""

from ._finetune import FineTuneClassifier
from ._maml import MAMLClassifier, MAMLRegressor
from ._reptile import ReptileClassifier, ReptileRegressor

__all__ = [
    "FineTuneClassifier",
    "MAMLClassifier",
    "MAMLRegressor",
    "ReptileClassifier",
    "ReptileRegressor",
]
