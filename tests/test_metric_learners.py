"""Model specifics of the metric-based meta-learners (the shared contract is in
test_meta_contract.py)."""

from functools import partial

import numpy as np
import pytest
import torch
from conftest import make_pool

from skmeta import (
    MatchingNetClassifier,
    ProtoNetClassifier,
    RelationNetClassifier,
    SiameseClassifier,
)
from skmeta.evaluation import evaluate
from skmeta.metric._relation import _ConvRelation
from skmeta.tasks import EpisodeSampler, split_tasks

IMAGE_LEARNERS = [
    MatchingNetClassifier,
    pytest.param(partial(MatchingNetClassifier, fce=True), id="MatchingNetClassifier-fce"),
    RelationNetClassifier,
    SiameseClassifier,
]


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


def test_matching_fce_meta_trains_its_lstms_and_learns():
    X, y = make_pool(n_classes=60)
    X_tr, X_te, y_tr, y_te = split_tasks(X, y, groups=y, test_size=0.33, random_state=0)
    test = EpisodeSampler(X_te, y_te, n_way=5, n_shot=2, n_query=5, random_state=1)
    params = dict(fce=True, n_shot=2, n_query=5, random_state=0)
    untrained = MatchingNetClassifier(**params)
    trained = MatchingNetClassifier(n_meta_iterations=200, **params).meta_fit(X_tr, y_tr)
    assert evaluate(trained, test, 100).mean > evaluate(untrained, test, 100).mean + 0.2
    initial = MatchingNetClassifier(n_meta_iterations=0, **params).meta_fit(X_tr, y_tr)
    lstm = [k for k in trained.meta_params_ if k.startswith("head.")]
    assert any("support_lstm" in k for k in lstm) and any("query_cell" in k for k in lstm)
    for k in lstm:  # the LSTMs receive meta-gradients
        assert not torch.equal(trained.meta_params_[k], initial.meta_params_[k]), k


def test_matching_fce_support_order_and_query_independence():
    X, y = make_pool(n_classes=8)
    support = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(4)])  # class-blocked
    queries = X[np.isin(y, range(4))][3::4]
    est = MatchingNetClassifier(fce=True, n_query=5, n_meta_iterations=20, random_state=0)
    est.meta_fit(X, y)
    proba = est.fit(X[support], y[support]).predict_proba(queries)
    # deterministic, and a query's probabilities ignore the other queries and their order
    np.testing.assert_array_equal(est.fit(X[support], y[support]).predict_proba(queries), proba)
    reverse = est.predict_proba(queries[::-1])[::-1]
    alone = np.vstack([est.predict_proba(queries[i : i + 1]) for i in range(len(queries))])
    np.testing.assert_allclose(reverse, proba, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(alone, proba, rtol=1e-5, atol=1e-7)
    # the support is read sorted by class: interleaving the classes changes nothing
    interleaved = support.reshape(4, 3).T.ravel()
    est.fit(X[interleaved], y[interleaved])
    np.testing.assert_allclose(est.predict_proba(queries), proba, rtol=1e-5, atol=1e-7)
    # the attention columns follow the support rows as given
    attention = est.attention_weights(queries)
    by_class = np.stack([attention[:, y[interleaved] == c].sum(axis=1) for c in range(4)], 1)
    np.testing.assert_allclose(by_class, proba, rtol=1e-5, atol=1e-7)


def test_relation_scores_lie_in_0_1_and_give_the_probabilities():
    X, y = make_pool(n_classes=8)
    est = RelationNetClassifier(n_query=5, n_meta_iterations=20, random_state=0).meta_fit(X, y)
    est.fit(X[:60:20], y[:60:20])
    scores = est.relation_scores(X[1:60])
    assert scores.shape == (59, 3) and np.all((scores >= 0) & (scores <= 1))
    expected = scores / scores.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X[1:60]), expected, rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def image_classes():
    """16x16 grey images: each class is a random sparse template under Gaussian noise."""
    rng = np.random.default_rng(0)
    templates = (rng.random((40, 1, 16, 16)) > 0.8).astype(np.float32)
    y = np.repeat(np.arange(40), 10)
    X = templates[y] + rng.normal(scale=0.5, size=(y.size, 1, 16, 16))
    return X.astype(np.float32), y


def test_relation_conv_module_compares_feature_maps_and_learns(image_classes):
    X, y = image_classes
    train = y < 25
    test = EpisodeSampler(X[~train], y[~train], n_way=5, n_shot=1, n_query=5, random_state=1)
    params = dict(backbone="conv4", n_query=5, random_state=0)
    untrained = evaluate(RelationNetClassifier(**params), test, n_tasks=50)
    est = RelationNetClassifier(n_meta_iterations=200, **params).meta_fit(X[train], y[train])
    assert evaluate(est, test, n_tasks=50).mean > untrained.mean + 0.15
    # Sung et al.'s module: 2 conv blocks on the query's and the class's maps stacked by
    # channel (64 + 64), then FC 64 -> 8 -> 1; the 16x16 images keep 4x4 maps.
    assert est.meta_params_["head.blocks.0.weight"].shape == (64, 128, 3, 3)
    assert est.meta_params_["head.fc.1.weight"].shape == (8, 64)
    assert est.network_.encoder(torch.zeros(2, 1, 16, 16)).shape == (2, 64, 4, 4)
    est.fit(X[~train][:50:10], y[~train][:50:10])
    assert est.relation_scores(X[~train][1:50]).shape == (49, 5)


def test_relation_conv_module_splits_its_first_convolution_exactly():
    # forward convolves each query and each class once and adds them pairwise; it must be
    # the paper's module on stacked pairs, values and gradients.
    torch.manual_seed(0)
    module = _ConvRelation(channels=6, height=5, width=4, hidden=(8,))
    queries = torch.randn(7, 6, 5, 4, requires_grad=True)
    classes = torch.randn(3, 6, 5, 4, requires_grad=True)
    fast = module(queries, classes)
    pairs = torch.cat(
        [queries.unsqueeze(1).expand(7, 3, 6, 5, 4), classes.unsqueeze(0).expand(7, 3, 6, 5, 4)],
        dim=2,
    ).flatten(0, 1)
    reference = module.forward_stacked(pairs).view(7, 3)
    torch.testing.assert_close(fast, reference, rtol=1e-5, atol=1e-6)
    weights = torch.randn(7, 3)
    grads = torch.autograd.grad((fast * weights).sum(), [queries, classes, *module.parameters()])
    ref_grads = torch.autograd.grad(
        (reference * weights).sum(), [queries, classes, *module.parameters()]
    )
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_relation_module_choice(image_classes):
    X, y = image_classes
    support, query = X[:40:10], X[1:40:10]

    def head_shapes(est):
        return [tuple(p.shape) for p in est.network_.head.parameters()]

    flat = RelationNetClassifier(backbone="conv4", relation_module="mlp", random_state=0)
    assert head_shapes(flat.fit(support, y[:40:10]))[0] == (64, 128)  # MLP on 64 + 64
    assert flat.predict_proba(query).shape == (4, 4)
    tabular = RelationNetClassifier(random_state=0).fit(support.reshape(4, -1), y[:40:10])
    assert head_shapes(tabular)[0] == (64, 128)  # "auto" with an MLP backbone
    maps = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.MaxPool2d(2))
    user = RelationNetClassifier(backbone=maps, random_state=0).fit(support, y[:40:10])
    assert head_shapes(user)[0] == (64, 16, 3, 3)  # "auto": the module outputs 8x8 maps
    assert user.predict(query).shape == (4,)
    with pytest.raises(ValueError, match="relation_module='conv' compares feature maps"):
        RelationNetClassifier(relation_module="conv").fit(support.reshape(4, -1), y[:40:10])
    tiny = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.AdaptiveAvgPool2d(2))
    with pytest.raises(ValueError, match="at least 4x4; the backbone outputs 2x2"):
        RelationNetClassifier(backbone=tiny, relation_module="conv").fit(support, y[:40:10])
    small = RelationNetClassifier(backbone=tiny, random_state=0).fit(support, y[:40:10])
    assert head_shapes(small)[0] == (64, 32)  # "auto": 2x2 maps, too small to pool: MLP
    # Conv-4 on 12x12 images leaves 3x3 maps: "auto" is "mlp", with the plain Conv-4.
    images = support[:, :, :12, :12]
    auto = RelationNetClassifier(random_state=0).fit(images, y[:40:10])
    mlp = RelationNetClassifier(relation_module="mlp", random_state=0).fit(images, y[:40:10])
    assert [p.shape for p in auto.network_.parameters()] == [
        p.shape for p in mlp.network_.parameters()
    ]
    np.testing.assert_allclose(auto.predict_proba(images), mlp.predict_proba(images))
    with pytest.raises(ValueError, match="relation_module"):
        RelationNetClassifier(relation_module="attention").fit(support, y[:40:10])


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


# ------------------------------------------------------------------------------ ProtoNet
def _calibration(est, tasks):
    """Mean query NLL and expected calibration error (10 bins) over ``tasks``."""
    nll, confidence, correct, labels = [], [], [], []
    for t in tasks:
        proba = est.fit(t.X_support, t.y_support).predict_proba(t.X_query)
        truth = np.searchsorted(est.classes_, t.y_query)
        nll.append(-np.log(proba[np.arange(truth.size), truth]))
        confidence.append(proba.max(axis=1))
        correct.append(proba.argmax(axis=1) == truth)
        labels.append(est.classes_[proba.argmax(axis=1)])
    nll, confidence, correct = map(np.concatenate, (nll, confidence, correct))
    bins = np.minimum((confidence * 10).astype(int), 9)
    ece = sum(
        np.mean(bins == b) * abs(confidence[bins == b].mean() - correct[bins == b].mean())
        for b in np.unique(bins)
    )
    return nll.mean(), ece, np.concatenate(labels)


def _split_by_class(scale):
    """Features multiplied by ``scale``, split by class into meta-train, calibration and
    test classes."""
    X, y = make_pool(n_classes=60)
    X = scale * X
    train, val, test = y < 30, (y >= 30) & (y < 40), y >= 40
    val_tasks = EpisodeSampler(X[val], y[val], 5, 1, 5, n_episodes=50, random_state=1)
    test_tasks = EpisodeSampler(X[test], y[test], 5, 1, 5, n_episodes=100, random_state=2)
    return X[train], y[train], val_tasks, test_tasks


@pytest.fixture(scope="module")
def mis_scaled():
    """Features 3 times too large (squared distances 9 times), and a short meta-training
    that does not shrink them back: temperature 1 is over-confident."""
    return _split_by_class(3.0)


_SHORT = dict(n_query=5, n_meta_iterations=200, meta_lr=1e-3, random_state=0)


def test_protonet_fitted_temperature_calibrates_without_changing_predictions(mis_scaled):
    X, y, val_tasks, test_tasks = mis_scaled
    fixed = ProtoNetClassifier(**_SHORT).meta_fit(X, y, validation_tasks=val_tasks)
    fitted = ProtoNetClassifier(temperature="fitted", **_SHORT)
    fitted.meta_fit(X, y, validation_tasks=val_tasks)
    nll_fixed, ece_fixed, labels_fixed = _calibration(fixed, test_tasks)
    nll_fitted, ece_fitted, labels_fitted = _calibration(fitted, test_tasks)
    np.testing.assert_array_equal(labels_fitted, labels_fixed)  # same ranking
    assert fitted.temperature_ > 2.0  # the scale was too large: a higher temperature
    assert nll_fitted < 0.9 * nll_fixed, (nll_fitted, nll_fixed)
    assert ece_fitted < 0.5 * ece_fixed, (ece_fitted, ece_fixed)


def test_protonet_fitted_temperature_without_validation_tasks(mis_scaled):
    X, y, _, test_tasks = mis_scaled
    fixed = ProtoNetClassifier(**_SHORT).meta_fit(X, y)
    fitted = ProtoNetClassifier(temperature="fitted", **_SHORT).meta_fit(X, y)
    assert _calibration(fitted, test_tasks)[0] < _calibration(fixed, test_tasks)[0]
    with pytest.raises(ValueError, match="one-shot iterator"):
        ProtoNetClassifier(temperature="fitted").meta_fit(iter(list(test_tasks)))


def test_protonet_learned_temperature_is_meta_trained():
    X, y, _, test_tasks = _split_by_class(1.0)
    params = dict(n_query=5, n_meta_iterations=300, meta_lr=1e-2, random_state=0)
    fixed = ProtoNetClassifier(temperature=1.0, **params).meta_fit(X, y)
    learned = ProtoNetClassifier(temperature="learned", **params).meta_fit(X, y)
    assert float(fixed.meta_params_["log_temperature"]) == 0.0  # a float is not trained
    assert float(learned.meta_params_["log_temperature"]) > 0.1
    assert _calibration(learned, test_tasks)[0] < 0.95 * _calibration(fixed, test_tasks)[0]


def test_protonet_fixed_temperature_flattens_the_softmax():
    X, y = make_pool(n_classes=5)
    cold = ProtoNetClassifier(random_state=0).fit(X[::10], y[::10])
    warm = ProtoNetClassifier(temperature=2.0, random_state=0).fit(X[::10], y[::10])
    p1, p2 = cold.predict_proba(X[1::10]), warm.predict_proba(X[1::10])
    # softmax(-d / 2) is softmax(-d) to the power 1/2, renormalised
    expected = np.sqrt(p1) / np.sqrt(p1).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(p2, expected, rtol=1e-5, atol=1e-12)
    np.testing.assert_array_equal(warm.predict(X[1::10]), cold.predict(X[1::10]))
    assert warm.temperature_ == 2.0
    with pytest.raises(ValueError, match="temperature"):
        ProtoNetClassifier(temperature=0.0).fit(X[::10], y[::10])
    with pytest.raises(ValueError, match="temperature"):
        ProtoNetClassifier(temperature="auto").fit(X[::10], y[::10])


def test_protonet_a_fixed_temperature_never_changes_what_is_learned():
    # Meta-training runs at temperature 1 whatever the float: the same prior, the same
    # predictions; only predict_proba is rescaled.
    X, y = make_pool(n_classes=20)
    params = dict(n_query=3, n_meta_iterations=30, meta_lr=1e-2, random_state=0)
    cold = ProtoNetClassifier(temperature=1.0, **params).meta_fit(X, y)
    warm = ProtoNetClassifier(temperature=10.0, **params).meta_fit(X, y)
    for name, value in cold.meta_params_.items():
        if name != "log_temperature":
            torch.testing.assert_close(warm.meta_params_[name], value, rtol=0, atol=0)
    support, query = X[:100:20], X[1:100]
    cold.fit(support, y[:100:20])
    warm.fit(support, y[:100:20])
    np.testing.assert_array_equal(warm.predict(query), cold.predict(query))
    assert (warm.predict_proba(query).max(axis=1) < cold.predict_proba(query).max(axis=1)).all()


def test_protonet_fits_the_temperature_on_n_way_episodes(monkeypatch):
    X, y = make_pool(n_classes=40)
    ways = []
    fit_temperature = ProtoNetClassifier._fit_temperature

    def spy(self, tasks):
        ways.extend(t.n_classes for t in tasks)
        return fit_temperature(self, tasks)

    monkeypatch.setattr(ProtoNetClassifier, "_fit_temperature", spy)
    est = ProtoNetClassifier(n_way=3, train_n_way=20, n_query=3, temperature="fitted")
    est.set_params(n_meta_iterations=2, random_state=0).meta_fit(X, y)
    assert set(ways) == {3}  # the ways of the tasks it is meant for, not train_n_way's
    ways.clear()
    too_many = est.set_params(n_way=50, n_meta_iterations=100)  # the pool has 40 classes
    with pytest.raises(ValueError, match="n_way=50: temperature='fitted' calibrates on"):
        too_many.meta_fit(X, y)
    assert not ways and too_many.n_meta_iter_ == 2  # refused before meta-training


def test_protonet_prior_keeps_its_distance():
    X, y = make_pool(n_classes=20)
    cosine = ProtoNetClassifier(distance="cosine", n_query=3, n_meta_iterations=2).meta_fit(X, y)
    with pytest.raises(ValueError, match="meta-trained with distance='cosine'"):
        ProtoNetClassifier(prior=cosine.export_prior()).fit(X[:100:20], y[:100:20])
    with pytest.raises(ValueError, match="meta-trained with distance='cosine'"):
        cosine.set_params(distance="euclidean").fit(X[:100:20], y[:100:20])
    same = ProtoNetClassifier(distance="cosine", prior=cosine.export_prior())
    assert same.fit(X[:100:20], y[:100:20]).predict(X[:5]).shape == (5,)


def test_protonet_prior_carries_the_fitted_temperature(mis_scaled):
    X, y, val_tasks, _ = mis_scaled
    est = ProtoNetClassifier(temperature="fitted", n_query=5, n_meta_iterations=20, random_state=0)
    prior = est.meta_fit(X, y, validation_tasks=val_tasks).export_prior()
    fitted_t = est.fit(X[:20:4], y[:20:4]).temperature_
    assert fitted_t != 1.0
    carried = ProtoNetClassifier(temperature="fitted", prior=prior).fit(X[:20:4], y[:20:4])
    assert carried.temperature_ == pytest.approx(fitted_t)
    fixed = ProtoNetClassifier(temperature=1.0, prior=prior).fit(X[:20:4], y[:20:4])
    assert fixed.temperature_ == 1.0  # a float temperature wins over the prior's


def test_protonet_trains_with_more_ways_than_it_tests_with(monkeypatch):
    X, y = make_pool(n_classes=40)
    ways = []
    meta_loss = ProtoNetClassifier._meta_loss

    def spy(self, params, tasks):
        ways.extend(t.n_classes for t in tasks)
        return meta_loss(self, params, tasks)

    monkeypatch.setattr(ProtoNetClassifier, "_meta_loss", spy)
    est = ProtoNetClassifier(n_way=5, train_n_way=20, n_query=5, n_meta_iterations=3)
    est.meta_fit(X, y, validation_tasks=EpisodeSampler(X, y, 5, 1, 5, n_episodes=2))
    assert ways == [20, 20, 20]
    for n_classes in (5, 3, 12):  # fit takes any number of classes
        support = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(n_classes)])
        proba = est.fit(X[support], y[support]).predict_proba(X[:7])
        assert proba.shape == (7, n_classes)
    ways.clear()
    ProtoNetClassifier(n_way=5, n_query=5, n_meta_iterations=2).meta_fit(X, y)
    assert ways == [5, 5]  # train_n_way=None trains with n_way


def test_protonet_train_n_way_larger_than_the_pool_is_a_clear_error():
    X, y = make_pool(n_classes=10)
    with pytest.raises(ValueError, match="train_n_way=60: .* the meta-training pool has only 10"):
        ProtoNetClassifier(train_n_way=60, n_query=5).meta_fit(X, y)
    with pytest.raises(ValueError, match="n_way=12: .* only 10"):
        ProtoNetClassifier(n_way=12, n_query=5).meta_fit(X, y)
    with pytest.raises(ValueError, match="train_n_way"):
        ProtoNetClassifier(train_n_way=1).meta_fit(X, y)


def test_protonet_conv4_prototypes_are_the_support_embeddings(images):
    """With batch norm, `fit` defers embedding the support to prediction time; the
    prototypes are still those of the support, normalised by its own statistics."""
    X, _ = images
    y = np.arange(8)  # 1-shot: each prototype is one support embedding
    est = ProtoNetClassifier(backbone="conv4", random_state=0).fit(X[:8], y)
    prototypes = est.prototypes_
    assert prototypes.shape == (8, 64)
    np.testing.assert_array_equal(est.predict(X[:8]), y)  # distance 0 to its own prototype
    with torch.no_grad():
        z = est.network_(torch.as_tensor(X[:8]))  # batch statistics of the support alone
    np.testing.assert_allclose(prototypes, z.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "Est", [ProtoNetClassifier, MatchingNetClassifier, RelationNetClassifier, SiameseClassifier]
)
def test_step_learning_rate_schedule_survives_a_checkpoint(Est, tmp_path):
    # Snell et al.'s protocol halves the learning rate every 2000 episodes: the schedule
    # follows the count of meta-updates, resumes with a checkpoint, and changes training.
    X, y = make_pool(n_classes=20)
    kw = dict(meta_lr=0.01, meta_lr_decay_interval=3, meta_lr_decay=0.5, random_state=0)
    straight = Est(n_meta_iterations=8, **kw).meta_fit(X, y)
    assert [h["meta_lr"] for h in straight.meta_history_] == pytest.approx(
        [0.01] * 3 + [0.005] * 3 + [0.0025] * 2
    )
    path = tmp_path / "run.ckpt"
    Est(n_meta_iterations=5, **kw).meta_fit(X, y, checkpoint=path)
    resumed = Est(n_meta_iterations=8, **kw).meta_fit(X, y, checkpoint=path)
    assert [h["meta_lr"] for h in resumed.meta_history_] == pytest.approx(
        [h["meta_lr"] for h in straight.meta_history_]
    )
    for name, value in straight.meta_params_.items():
        torch.testing.assert_close(resumed.meta_params_[name], value)
    constant = Est(n_meta_iterations=8, meta_lr=0.01, random_state=0).meta_fit(X, y)
    assert "meta_lr" not in constant.meta_history_[0]
    assert any(
        not torch.allclose(constant.meta_params_[k], v) for k, v in straight.meta_params_.items()
    )
    with pytest.raises(ValueError, match="meta_lr_decay_interval"):
        Est(n_meta_iterations=8, **{**kw, "meta_lr_decay_interval": 4}).meta_fit(
            X, y, checkpoint=path
        )
