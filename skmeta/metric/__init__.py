"""Metric-based meta-learners: classify queries by comparing embeddings to the support set."""

from ._matching import MatchingNetClassifier
from ._protonet import ProtoNetClassifier
from ._relation import RelationNetClassifier
from ._siamese import SiameseClassifier

__all__ = [
    "MatchingNetClassifier",
    "ProtoNetClassifier",
    "RelationNetClassifier",
    "SiameseClassifier",
]
