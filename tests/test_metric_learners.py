"""Model specifics of the metric-based meta-learners (the shared contract is in
test_meta_contract.py)."""

import numpy as np
import pytest
from conftest import make_pool

from skmeta import MatchingNetClassifier, RelationNetClassifier, SiameseClassifier

IMAGE_LEARNERS = [MatchingNetClassifier, RelationNetClassifier, SiameseClassifier]


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((40, 1, 16, 16)).astype(np.float32), np.repeat(np.arange(4), 2)


@pytest.mark.parametrize("Est", IMAGE_LEARNERS)
def test_predictions_do_not_depend_on_other_queries(Est, images):
    """Non-transductive batch norm: a query's prediction ignores the rest of the batch."""
    X, y = images
    est = Est(backbone="conv4", random_state=0).fit(X[:8], y)
    together = est.predict_proba(X[8:])
    alone = np.vstack([est.predict_proba(X[i : i + 1]) for i in range(8, 40)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-6)
    trans = Est(backbone="conv4", transductive=True, random_state=0).fit(X[:8], y)
    assert not np.allclose(trans.predict_proba(X[8:])[:1], trans.predict_proba(X[8:9]))


@pytest.mark.parametrize("Est", IMAGE_LEARNERS)
def test_bad_input_gets_a_clear_error(Est):
    with pytest.raises(ValueError, match="at least 16x16"):
        Est(backbone="conv4").fit(np.zeros((4, 8, 8)), [0, 1, 0, 1])
    est = Est().fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="X has 5 features"):
        est.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        Est().fit(np.full((4, 3), np.nan), [0, 1, 0, 1])


def test_matching_attention_is_a_distribution_over_the_support():
    X, y = make_pool(n_classes=5)
    est = MatchingNetClassifier(random_state=0).fit(X[::10], y[::10])
    attention = est.attention_weights(X[1::10])
    assert attention.shape == (10, 10) and np.all(attention >= 0)
    np.testing.assert_allclose(attention.sum(axis=1), 1.0, rtol=1e-6)
    # the class probabilities are the attention mass on each class's support examples
    by_class = np.stack([attention[:, y[::10] == c].sum(axis=1) for c in est.classes_], axis=1)
    np.testing.assert_allclose(est.predict_proba(X[1::10]), by_class, rtol=1e-5, atol=1e-7)


def test_relation_scores_lie_in_0_1_and_give_the_probabilities():
    X, y = make_pool(n_classes=8)
    est = RelationNetClassifier(n_query=5, n_meta_iterations=20, random_state=0).meta_fit(X, y)
    est.fit(X[:60:20], y[:60:20])
    scores = est.relation_scores(X[1:60])
    assert scores.shape == (59, 3) and np.all((scores >= 0) & (scores <= 1))
    expected = scores / scores.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X[1:60]), expected, rtol=1e-5, atol=1e-7)


def test_relation_prior_must_match_the_relation_module():
    X, y = make_pool(n_classes=8)
    prior = RelationNetClassifier(n_query=5, n_meta_iterations=1).meta_fit(X, y).export_prior()
    with pytest.raises(ValueError, match="does not fit this RelationNetClassifier"):
        RelationNetClassifier(relation_layer_sizes=(8,), prior=prior).fit(X[:10], y[:10])


def test_siamese_similarity_is_symmetric_and_picks_the_best_shot():
    X, y = make_pool(n_classes=8)
    est = SiameseClassifier(n_query=5, n_meta_iterations=20, random_state=0).meta_fit(X, y)
    a, b = X[:40:5], X[1:40:5]
    ab = est.fit(a, y[:40:5]).similarity(b)
    ba = est.fit(b, y[1:40:5]).similarity(a)
    np.testing.assert_allclose(ab, ba.T, rtol=1e-5)
    assert np.all((ab >= 0) & (ab <= 1))
    # the class of the most similar support example wins
    est.fit(a, y[:40:5])
    np.testing.assert_array_equal(est.predict(b), y[:40:5][ab.argmax(axis=1)])
