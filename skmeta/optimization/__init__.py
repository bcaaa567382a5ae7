"""Optimization-based meta-learning: learned initialisations adapted by gradient steps."""

from ._maml import MAMLClassifier, MAMLRegressor
from ._reptile import ReptileClassifier, ReptileRegressor

__all__ = ["MAMLClassifier", "MAMLRegressor", "ReptileClassifier", "ReptileRegressor"]
