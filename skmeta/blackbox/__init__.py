"""Black-box meta-learners: a network reads the support set and predicts the queries."""

from ._cnp import BlackBoxClassifier, BlackBoxRegressor

__all__ = ["BlackBoxClassifier", "BlackBoxRegressor"]
