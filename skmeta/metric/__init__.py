"""Metric-based meta-learners: classify queries by comparing embeddings to the support set."""

from ._protonet import ProtoNetClassifier

__all__ = ["ProtoNetClassifier"]
