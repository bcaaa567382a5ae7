"""
Metric-based meta-learners on Omniglot
======================================

Metric-based meta-learners side by side on Omniglot 5-way 1-shot.

Meta-trains Prototypical, Matching, Relation and Siamese networks (Conv-4, 28x28, the
embedded Omniglot) on the same 200 training episodes each and scores them on the same 100
test episodes of unseen characters, with 95% confidence intervals. A few minutes on 2 CPU
cores; the figures are far below the published ones, which train for hours.
"""

from skmeta import (
    MatchingNetClassifier,
    ProtoNetClassifier,
    RelationNetClassifier,
    SiameseClassifier,
)
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate
from skmeta.tasks import EpisodeSampler

X_train, y_train = load_omniglot(split="train")
X_test, y_test = load_omniglot(split="test")
test = EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=15, n_episodes=100, random_state=0)

for make in [ProtoNetClassifier, MatchingNetClassifier, RelationNetClassifier, SiameseClassifier]:
    est = make(
        backbone="conv4", n_way=5, n_shot=1, n_query=15, n_meta_iterations=200, random_state=0
    )
    untrained = evaluate(est, test, n_tasks=None)
    trained = evaluate(est.meta_fit(X_train, y_train), test, n_tasks=None)
    print(f"{make.__name__:24s} untrained {untrained}   meta-trained {trained}")
