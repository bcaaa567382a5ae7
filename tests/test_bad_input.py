"""Bad input gets a clear error that says what is wrong and how to fix it."""

import re

import numpy as np
import pytest
import torch
from conftest import make_pool
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import InvalidParameterError

from skmeta import Prior, ProtoNetClassifier
from skmeta.tasks import Task


@pytest.fixture
def fitted_prior():
    X, y = make_pool(n_classes=10, n_noise=4)  # 8 features
    return ProtoNetClassifier(n_query=5, n_meta_iterations=2, random_state=0).meta_fit(X, y)


def test_wrong_shape():
    with pytest.raises(ValueError, match="Expected 2D array"):
        ProtoNetClassifier().fit(np.zeros(6), [0, 1, 0, 1, 0, 1])
    est = ProtoNetClassifier().fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="X has 5 features, but ProtoNetClassifier is expecting 3"):
        est.predict(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="needs images"):
        ProtoNetClassifier(backbone="conv4").fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="at least 16x16"):
        ProtoNetClassifier(backbone="conv4").fit(np.zeros((4, 8, 8)), [0, 1, 0, 1])


def test_too_few_examples_per_class_for_n_shot():
    X, y = make_pool(n_classes=10, n_per_class=5)
    with pytest.raises(ValueError, match=r"n_shot \+ n_query = 1 \+ 15 = 16 examples"):
        ProtoNetClassifier().meta_fit(X, y)
    with pytest.raises(ValueError, match="class 0 has 5 examples, but 5 go to the support set"):
        ProtoNetClassifier(n_shot=5).meta_fit(X, y, groups=y // 2)


def test_unseen_labels_in_a_query_set():
    task = Task(np.zeros((2, 3)), [0, 1], np.zeros((2, 3)), [0, 2])
    with pytest.raises(ValueError, match=r"query set has labels \[2\] that its support set"):
        ProtoNetClassifier(n_meta_iterations=1).meta_fit([task, task])


def test_nan_and_infinity():
    X = np.zeros((4, 3))
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ProtoNetClassifier().fit(X, [0, 1, 0, 1])
    est = ProtoNetClassifier().fit(np.zeros((4, 3)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="infinity"):
        est.predict(np.full((1, 3), np.inf))
    with pytest.raises(ValueError, match="NaN"):
        ProtoNetClassifier().meta_fit(X, [0, 1, 0, 1], groups=[0, 0, 1, 1])


def test_images_too_small_for_the_prior_name_the_meta_training_shape():
    # Conv-4 refuses images under 16x16; after meta-training on 28x28 the mismatch with
    # the prior is what to say, not the network's lower bound.
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 28, 28)).astype(np.float32), np.repeat(np.arange(6), 10)
    est = ProtoNetClassifier(backbone="conv4", n_way=3, n_query=2, n_meta_iterations=1)
    est.meta_fit(X, y)
    small = rng.random((3, 14, 14)).astype(np.float32)
    with pytest.raises(ValueError, match=r"meta-trained on examples of shape \(28, 28\)"):
        est.fit(small, [0, 1, 2])
    with pytest.raises(
        ValueError, match=r"prior was meta-trained on inputs of shape \(1, 28, 28\)"
    ):
        ProtoNetClassifier(backbone="conv4", prior=est.export_prior()).fit(small, [0, 1, 2])
    with pytest.raises(ValueError, match="needs images of at least 16x16"):  # no prior
        ProtoNetClassifier(backbone="conv4").fit(small, [0, 1, 2])


def test_wrong_task_ids():
    X, y = make_pool(n_classes=4, n_per_class=4)
    with pytest.raises(ValueError, match="groups has 3 entries but the matching X has 16 rows"):
        ProtoNetClassifier().meta_fit(X, y, groups=[0, 1, 2])
    with pytest.raises(ValueError, match="groups were given without y"):
        ProtoNetClassifier().meta_fit(X, groups=y)


def test_a_prior_meta_trained_on_other_features(fitted_prior):
    X = np.zeros((4, 5))
    with pytest.raises(ValueError, match=r"meta-trained on examples of shape \(8,\)"):
        fitted_prior.fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"prior was meta-trained on inputs of shape \(8,\)"):
        ProtoNetClassifier(prior=fitted_prior.export_prior()).fit(X, [0, 1, 0, 1])
    with pytest.raises(ValueError, match="does not fit this ProtoNetClassifier's network"):
        ProtoNetClassifier(prior=fitted_prior.export_prior(), embed_dim=3).fit(
            np.zeros((4, 8)), [0, 1, 0, 1]
        )


def test_missing_or_foreign_prior_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="export_prior"):
        ProtoNetClassifier(prior=tmp_path / "nope.pt").fit(np.zeros((2, 2)), [0, 1])
    junk = tmp_path / "junk.pt"
    np.save(junk, np.zeros(2))
    with pytest.raises(Exception, match="not a prior saved by skmeta|Weights only load failed"):
        Prior.load(str(junk) + ".npy")


def test_predict_before_fit_and_before_adaptation(fitted_prior):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        ProtoNetClassifier().predict(np.zeros((1, 8)))
    with pytest.raises(NotFittedError, match="meta-trained but not adapted"):
        fitted_prior.predict(np.zeros((1, 8)))
    with pytest.raises(NotFittedError, match="call meta_fit"):
        ProtoNetClassifier().export_prior()


def test_wrong_task_collections():
    task = Task(np.zeros((2, 3)), [0, 1], np.zeros((2, 3)), [0, 1])
    with pytest.raises(TypeError, match="single Task"):
        ProtoNetClassifier().meta_fit(task)
    with pytest.raises(ValueError, match="need a labelled query set"):
        ProtoNetClassifier().meta_fit([Task(np.zeros((2, 3)), [0, 1])])
    other = Task(np.zeros((2, 4)), [0, 1], np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError, match="share one input space"):
        ProtoNetClassifier(n_meta_iterations=2, meta_batch_size=2).meta_fit([task, other])
    with pytest.raises(TypeError, match="validation_tasks takes a list of tasks"):
        ProtoNetClassifier(n_meta_iterations=1).meta_fit(
            [task], validation_tasks=(task.X_query, [0, 1])
        )


def test_invalid_parameters():
    X, y = np.zeros((4, 3)), [0, 1, 0, 1]
    with pytest.raises(InvalidParameterError, match="'n_way' parameter"):
        ProtoNetClassifier(n_way=1).fit(X, y)
    with pytest.raises(InvalidParameterError, match="'backbone' parameter"):
        ProtoNetClassifier(backbone="resnet").fit(X, y)
    with pytest.raises(ValueError, match="device must be 'auto'"):
        ProtoNetClassifier(device="tpu").fit(X, y)


def test_regression_targets_for_a_classifier():
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        ProtoNetClassifier().fit(np.zeros((3, 2)), [0.1, 0.7, 2.3])


LEARNERS = [
    "MAMLClassifier",
    "ReptileClassifier",
    "FineTuneClassifier",
    "ProtoNetClassifier",
    "MatchingNetClassifier",
    "RelationNetClassifier",
    "SiameseClassifier",
    "BlackBoxClassifier",
]


@pytest.mark.parametrize("name", LEARNERS)
def test_a_users_backbone_that_does_not_fit_the_examples(name):
    import torch

    import skmeta

    X, y = np.zeros((4, 4)), [0, 0, 1, 1]
    est = getattr(skmeta, name)
    with pytest.raises(ValueError, match=r"module Linear does not take the examples.*\(2, 4\)"):
        est(backbone=torch.nn.Linear(5, 3)).fit(X, y)
    with pytest.raises(ValueError, match="module GRU must return one tensor with a row per"):
        est(backbone=torch.nn.GRU(4, 8)).fit(X, y)
    with pytest.raises(ValueError, match=r"returned a tensor of shape \(8,\)"):
        est(backbone=torch.nn.Flatten(0)).fit(X, y)


def test_the_backbone_probe_leaves_running_statistics_alone():
    import torch

    from skmeta.nn import make_backbone

    # The shape probe runs on skmeta's copy (where batch norm uses each task's own
    # statistics), never on the user's module: its running statistics stay as set.
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    module[1].running_mean.fill_(0.5)
    module.train()
    network, _ = make_backbone(module, (4,))
    assert torch.equal(module[1].running_mean, torch.full((3,), 0.5))
    assert int(module[1].num_batches_tracked) == 0
    assert not any("running" in name for name, _ in network.named_buffers())


def test_flat_rows_and_images_are_the_same_examples_at_predict():
    # Images may be passed flat (C order) and flat rows as images of as many values;
    # another shape is an error that names the fitted one.
    rng = np.random.default_rng(0)
    X = rng.random((4, 16, 16)).astype(np.float32)
    y = [0, 0, 1, 1]
    on_images = ProtoNetClassifier(backbone="conv4", random_state=0).fit(X, y)
    on_rows = ProtoNetClassifier(backbone="conv4", random_state=0).fit(X.reshape(4, -1), y)
    expected = on_images.predict_proba(X)
    np.testing.assert_allclose(on_images.predict_proba(X.reshape(4, -1)), expected, atol=1e-6)
    np.testing.assert_allclose(on_rows.predict_proba(X), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"fitted on examples of shape \(16, 16\)\. Pass"):
        on_images.predict(X.reshape(4, 8, 32))
    with pytest.raises(ValueError, match=r"\(128 values\).*rows of 256 features"):
        on_rows.predict(X[:, :8])


def test_channels_last_images_get_a_hint():
    with pytest.raises(ValueError, match=r"channels-last.*X\.transpose\(0, 3, 1, 2\)"):
        ProtoNetClassifier(backbone="conv4").fit(np.zeros((4, 16, 16, 3)), [0, 0, 1, 1])


@pytest.mark.parametrize("sizes", [(-3,), (8, 0), (2.5,)])
def test_layer_sizes_must_be_positive_integers(sizes):
    from skmeta import MAMLClassifier, MultiTaskRegressor, RelationNetClassifier

    X, y = np.zeros((4, 3)), [0, 0, 1, 1]
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        ProtoNetClassifier(hidden_layer_sizes=sizes).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        MAMLClassifier(hidden_layer_sizes=sizes).fit(X, y)
    with pytest.raises(ValueError, match="relation_layer_sizes must hold positive integers"):
        RelationNetClassifier(relation_layer_sizes=sizes).fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes must hold positive integers"):
        MultiTaskRegressor(hidden_layer_sizes=sizes).fit(X, [0.0, 1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    "name", ["MAMLRegressor", "ReptileRegressor", "BlackBoxRegressor", "MultiTaskRegressor"]
)
def test_class_labels_for_a_regressor(name):
    import skmeta

    est = getattr(skmeta, name)()
    X = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"needs numeric targets; y has dtype <U1 \(e\.g\. 'a'\)"):
        est.fit(X, list("abab"))
    if name != "MultiTaskRegressor":
        task = Task(X, list("abab"), X, list("abab"))
        with pytest.raises(ValueError, match="needs numeric targets"):
            est.meta_fit([task, task])


def test_multitask_tasks_with_different_features():
    from skmeta import MultiTaskRegressor

    tasks = [(np.zeros((4, 3)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(4))]
    with pytest.raises(ValueError, match=r"one input space: task 1 has examples of shape \(2,\)"):
        MultiTaskRegressor().meta_fit(tasks)


def test_real_valued_labels_for_episodes():
    X = np.zeros((40, 3))
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        ProtoNetClassifier(n_query=1).meta_fit(X, np.linspace(0, 1, 40))


def test_a_one_class_support_set_for_a_meta_trained_maml():
    from skmeta import MAMLClassifier

    X, y = make_pool(n_classes=6)
    est = MAMLClassifier(n_way=2, n_query=2, n_meta_iterations=1, random_state=0).meta_fit(X, y)
    with pytest.raises(ValueError, match=r"support set has 1\. Adapt with 2-way support sets\.$"):
        est.fit(X[:3], [0, 0, 0])


def test_nan_in_images_names_x():
    X = np.zeros((4, 16, 16))
    X[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        ProtoNetClassifier(backbone="conv4").fit(X, [0, 0, 1, 1])


def test_groups_of_one_row_are_too_small_for_a_task():
    from skmeta import MAMLRegressor

    with pytest.raises(ValueError, match=r"group\) 0 has 1 example\(s\), but a task needs at"):
        MAMLRegressor().meta_fit(np.zeros((4, 3)), np.zeros(4), groups=np.arange(4))


def _same_params(a, b):
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_a_failed_meta_fit_keeps_the_earlier_prior_and_adaptation(fitted_prior):
    X, y = make_pool(n_classes=10, n_noise=4)
    fitted_prior.fit(X[:8], y[:8])
    before = {k: v.clone() for k, v in fitted_prior.meta_params_.items()}
    expected = fitted_prior.predict_proba(X[8:12])
    task = Task(np.zeros((2, 8)), [0, 1], np.zeros((2, 8)), [0, 1])
    other = Task(np.zeros((2, 5)), [0, 1], np.zeros((2, 5)), [0, 1])
    with pytest.raises(TypeError, match="validation_tasks takes a list of tasks"):
        fitted_prior.meta_fit(X, y, validation_tasks=(X, y))
    with pytest.raises(ValueError, match="share one input space"):
        fitted_prior.meta_fit([task], validation_tasks=[other])

    def interrupt(est, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fitted_prior.meta_fit(X, y, callbacks=[interrupt])
    assert _same_params(fitted_prior.meta_params_, before)
    np.testing.assert_array_equal(fitted_prior.predict_proba(X[8:12]), expected)
    with pytest.raises(ValueError, match=r"meta-trained on examples of shape \(8,\)"):
        fitted_prior.fit(np.zeros((4, 5)), [0, 1, 0, 1])


@pytest.mark.parametrize(
    "make, change",
    [
        ("ProtoNetClassifier", {"embed_dim": 7}),
        ("ProtoNetClassifier", {"hidden_layer_sizes": (3,)}),
        ("MatchingNetClassifier", {"fce": True}),
        ("RelationNetClassifier", {"relation_layer_sizes": (5,)}),
        ("BlackBoxClassifier", {"aggregation": "attention"}),
        ("BlackBoxRegressor", {"aggregation": "attention"}),
        ("MAMLClassifier", {"hidden_layer_sizes": (7,)}),
    ],
)
def test_architecture_changed_after_meta_fit(make, change):
    import skmeta

    X, y = make_pool(n_classes=10, n_noise=4)
    est = getattr(skmeta, make)(n_meta_iterations=1, random_state=0)
    if make == "BlackBoxRegressor":
        y = y.astype(float)
        est.meta_fit(X, y, groups=np.arange(len(y)) // 8)
    else:
        est.set_params(n_way=3, n_query=2).meta_fit(X, y)
    name, value = next(iter(change.items()))
    old = est.get_params()[name]
    est.set_params(**change)
    support = np.concatenate([np.flatnonzero(y == k)[:2] for k in np.unique(y)[:3]])
    with pytest.raises(ValueError, match=re.escape(f"meta-trained with {name}={old!r}, but")):
        est.fit(X[support], y[support])
    # Set back (a list for a tuple is the same sizes), the prior adapts as before.
    est.set_params(**{name: list(old) if isinstance(old, tuple) else old})
    est.fit(X[support], y[support])
    assert est.export_prior().config[name] == old


def test_a_prior_of_another_learner(fitted_prior):
    from skmeta import MatchingNetClassifier

    with pytest.raises(ValueError, match="meta-trained by a ProtoNetClassifier, whose network"):
        MatchingNetClassifier(prior=fitted_prior.export_prior()).fit(np.zeros((4, 8)), [0, 1] * 2)


def test_nan_targets_with_images_for_a_regressor():
    from skmeta import BlackBoxRegressor

    X = np.random.default_rng(0).random((6, 16, 16))
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="Input y contains (NaN|infinity)"):
            BlackBoxRegressor(backbone="conv4").fit(X, [bad, 0, 1, 2, 3, 4])


def test_a_list_of_images_is_images():
    X = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    y = [0, 0, 1, 1, 2, 2]
    est = ProtoNetClassifier(backbone="conv4", random_state=0)
    expected = est.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(est.fit(list(X), y).predict_proba(list(X)), expected)


def test_arrays_passed_as_one_tuple_get_a_hint():
    X, y = make_pool(n_classes=4, n_per_class=4)
    with pytest.raises(TypeError, match=r"pass them as separate arguments: meta_fit\(X, y\)"):
        ProtoNetClassifier().meta_fit((X, y))
    with pytest.raises(ValueError, match=r"reshape it: X\.reshape\(-1, 1\)\.$"):
        ProtoNetClassifier().meta_fit([(np.zeros(4), [0, 1, 0, 1])])


@pytest.mark.parametrize("name", ["MAMLClassifier", "ReptileClassifier", "FineTuneClassifier"])
def test_a_rejected_support_set_keeps_the_last_adaptation(name):
    import skmeta

    X, y = make_pool(n_classes=10, n_noise=4)
    est = getattr(skmeta, name)(n_meta_iterations=2, random_state=0)
    if name != "FineTuneClassifier":
        est.set_params(n_way=3, n_query=2)
    est.meta_fit(X, y)
    support = np.concatenate([np.flatnonzero(y == k)[:2] for k in range(3)])
    expected = est.fit(X[support], y[support]).predict_proba(X[:5])
    bad = X[support].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y[support])
    np.testing.assert_array_equal(est.predict_proba(X[:5]), expected)


def test_meta_sgd_step_sizes_are_part_of_the_architecture():
    from skmeta import MAMLRegressor

    rng = np.random.default_rng(0)
    X, g = rng.normal(size=(40, 3)), np.repeat(np.arange(8), 5)
    kw = dict(hidden_layer_sizes=(8,), n_meta_iterations=2, meta_batch_size=2, random_state=0)
    sgd = MAMLRegressor(learn_inner_lr=True, **kw).meta_fit(X, X[:, 0], g)
    with pytest.raises(ValueError, match="meta-trained with learn_inner_lr=True, but"):
        sgd.set_params(learn_inner_lr=False).fit(X[:5], X[:5, 0])
    sgd.set_params(learn_inner_lr=True)
    with pytest.raises(ValueError, match="meta-trained with adapt='all', but adapt is now"):
        sgd.set_params(adapt="head").fit(X[:5], X[:5, 0])
    prior = sgd.set_params(adapt="all").export_prior()
    with pytest.raises(ValueError, match=r"learn_inner_lr=True \(this estimator: False\)"):
        MAMLRegressor(hidden_layer_sizes=(8,), prior=prior).fit(X[:5], X[:5, 0])
    # A plain MAML prior adapts only the head as well (ANIL at test time).
    plain = MAMLRegressor(**kw).meta_fit(X, X[:, 0], g)
    assert plain.set_params(adapt="head").fit(X[:5], X[:5, 0]).predict(X[:2]).shape == (2,)
    # And it starts Meta-SGD: its weights, step sizes inner_lr to be meta-learned.
    start = plain.export_prior()
    sgd = MAMLRegressor(learn_inner_lr=True, inner_lr=0.05, prior=start, **kw)
    sgd.set_params(n_meta_iterations=1).meta_fit(X, X[:, 0], g)
    steps = {k: v for k, v in sgd.meta_params_.items() if k.startswith("inner_lr:")}
    assert steps and len(steps) == len(start.params)
    at_start = MAMLRegressor(learn_inner_lr=True, inner_lr=0.05, prior=start, **kw)
    at_start.fit(X[:5], X[:5, 0])
    theta = at_start._initial_params(at_start.network_, (3,), (3,), torch.device("cpu"))
    assert theta.keys() == sgd.meta_params_.keys()
    for k, v in theta.items():
        expected = torch.full_like(v, 0.05) if k.startswith("inner_lr:") else start.params[k]
        assert torch.equal(v, expected), k


# ------------------------------------------- a review of bad inputs (2026-12-07)
def _pool():
    X = np.random.default_rng(0).normal(size=(240, 6))
    return X, np.repeat(np.arange(12), 20)


def test_empty_pool_with_groups_is_refused_not_an_endless_loop():
    from skmeta import MAMLRegressor

    with pytest.raises(ValueError, match="received no tasks|task collection is empty"):
        ProtoNetClassifier().meta_fit(np.empty((0, 6)), np.empty(0), np.empty(0))
    with pytest.raises(ValueError, match="received no tasks|task collection is empty"):
        MAMLRegressor().meta_fit(np.empty((0, 6)), np.empty(0), np.empty(0))


def test_multitask_meta_fit_refuses_endless_samplers_and_malformed_tasks():
    from skmeta.datasets import SinusoidTasks
    from skmeta.multitask import MultiTaskRegressor
    from skmeta.tasks import EpisodeSampler

    with pytest.raises(TypeError, match=r"pass list\(\.\.\.\)"):
        MultiTaskRegressor(max_epochs=1).meta_fit(SinusoidTasks(random_state=0))
    X, y = _pool()
    endless = EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, n_episodes=None)
    with pytest.raises(TypeError, match=r"pass list\(\.\.\.\)"):
        MultiTaskRegressor(max_epochs=1).meta_fit(endless)
    triples = [(X[:120], X[:120, 0], "a"), (X[120:], X[120:, 0], "b")]
    with pytest.raises(TypeError, match="Task 0 is a tuple of length 3; expected"):
        MultiTaskRegressor(max_epochs=1).meta_fit(triples)
    with pytest.raises(TypeError, match="Task 0 is a int; expected"):
        MultiTaskRegressor(max_epochs=1).meta_fit([1, 2])


@pytest.mark.parametrize("name", ["ProtoNetClassifier", "RelationNetClassifier"])
def test_one_class_tasks_are_refused_and_some_are_warned_about(name):
    import skmeta

    X, y = _pool()
    est = getattr(skmeta, name)(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    with pytest.raises(ValueError, match="Every group holds a single class"):
        est.meta_fit(X, y, groups=y)  # groups=y: one class per task
    groups = np.where(y == 11, 100, y // 4)  # three groups of 3-4 classes, one of class 11
    with pytest.warns(UserWarning, match="1 of 4 groups hold a single class"):
        est.meta_fit(X, y, groups=groups)
    assert not hasattr(est, "feature_names_in_")


def test_labels_of_mixed_types_and_nan_groups():
    from skmeta import FineTuneClassifier

    X, y = _pool()
    mixed = np.array([v if v % 2 else str(v) for v in y], dtype=object)
    with pytest.raises(ValueError, match=r"y mixes types \(int64, str\)"):
        ProtoNetClassifier(n_way=3, n_meta_iterations=1).meta_fit(X, mixed)
    with pytest.raises(ValueError, match="y mixes types"):
        FineTuneClassifier(n_meta_iterations=1).meta_fit(X, mixed)
    g = (y // 3).astype(float)
    g[0] = np.nan
    with pytest.raises(ValueError, match="groups contains NaN"):
        FineTuneClassifier(n_meta_iterations=1).meta_fit(X, y, g)


def test_feature_names_of_meta_training_are_checked_at_fit(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _pool()
    cols = [f"f{i}" for i in range(6)]
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    est.meta_fit(pd.DataFrame(X, columns=cols), y)
    support = pd.DataFrame(X[[0, 20, 40]], columns=cols)
    assert est.fit(support, [0, 1, 2]).predict(support).shape == (3,)
    with pytest.raises(ValueError, match=r"Reorder them: X\[prior.feature_names\]"):
        est.fit(support[cols[::-1]], [0, 1, 2])
    with pytest.raises(ValueError, match="Adapt with the features the prior was meta-trained"):
        est.fit(support.rename(columns={"f0": "g0"}), [0, 1, 2])
    with pytest.warns(UserWarning, match="X does not have feature names"):
        est.fit(support.to_numpy(), [0, 1, 2])
    prior = est.export_prior(tmp_path / "p.pt")
    assert Prior.load(tmp_path / "p.pt").feature_names == cols == prior.feature_names
    with pytest.raises(ValueError, match="Reorder them"):
        ProtoNetClassifier(prior=prior).fit(support[cols[::-1]], [0, 1, 2])
    # meta-trained on arrays: no names to check against
    plain = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2).meta_fit(X, y)
    assert plain.export_prior().feature_names is None
    plain.fit(support[cols[::-1]], [0, 1, 2])


def test_feature_names_are_checked_at_meta_fit_from_a_prior_and_across_tasks():
    pd = pytest.importorskip("pandas")
    X, y = _pool()
    cols = [f"f{i}" for i in range(6)]
    frame = pd.DataFrame(X, columns=cols)
    prior = (
        ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
        .meta_fit(frame, y)
        .export_prior()
    )
    warm = ProtoNetClassifier(prior=prior, n_way=3, n_query=5, n_meta_iterations=1)
    with pytest.raises(ValueError, match=r"Reorder them: X\[prior.feature_names\]"):
        warm.meta_fit(frame[cols[::-1]], y)
    with pytest.raises(ValueError, match="Meta-train with the features the prior was"):
        warm.meta_fit(frame.rename(columns={"f0": "g0"}), y)
    with pytest.warns(UserWarning, match="X does not have feature names"):
        warm.meta_fit(X, y)
    assert warm.meta_fit(frame, y).export_prior().feature_names == cols
    # (X, y) pairs of DataFrames: their columns are recorded, and must agree
    pairs = [(frame.iloc[y // 3 == t], y[y // 3 == t]) for t in np.unique(y // 3)]
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=1, random_state=0)
    assert est.meta_fit(pairs).export_prior().feature_names == cols
    with pytest.raises(ValueError, match="Reorder them"):
        est.fit(frame[cols[::-1]].iloc[[0, 20, 40]], [0, 1, 2])
    pairs[2] = (pairs[2][0][cols[::-1]], pairs[2][1])
    with pytest.raises(ValueError, match=r"Task 2 has the columns \['f5'.*but task 0 has"):
        est.meta_fit(pairs)


@pytest.mark.parametrize("content", [b"", b"\x00\x01junk", None])
def test_files_that_are_not_priors_or_checkpoints(tmp_path, content):
    import pickle

    path = tmp_path / "file"
    path.write_bytes(pickle.dumps({"a": 1}) if content is None else content)
    with pytest.raises(ValueError, match="is not a prior saved by skmeta's Prior.save"):
        ProtoNetClassifier(prior=path).fit(np.zeros((2, 3)), [0, 1])
    X, y = _pool()
    with pytest.raises(ValueError, match="is not a skmeta meta-training checkpoint"):
        ProtoNetClassifier(n_way=3, n_meta_iterations=1).meta_fit(X, y, checkpoint=path)


def test_checkpoint_arguments_are_checked_before_training(tmp_path):
    X, y = _pool()
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="checkpoint_interval .* integer >= 1"):
            est.meta_fit(X, y, checkpoint=tmp_path / "c.ckpt", checkpoint_interval=bad)
    with pytest.raises(FileNotFoundError, match="does not exist. Create it first"):
        est.meta_fit(X, y, checkpoint=tmp_path / "missing" / "c.ckpt")
    assert not hasattr(est, "meta_params_")
    est.meta_fit(X, y, checkpoint=tmp_path / "c.ckpt")
    other = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=4, random_state=0)
    with pytest.raises(ValueError, match="holds a network of other shapes"):
        other.meta_fit(X[:, :4], y, checkpoint=tmp_path / "c.ckpt")


def test_callbacks_and_empty_validation_tasks_are_checked_up_front():
    from skmeta.multitask import MultiTaskRegressor

    X, y = _pool()
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    with pytest.raises(TypeError, match=r"callbacks\[0\] is a int, not a callable"):
        est.meta_fit(X, y, callbacks=[1])
    with pytest.raises(TypeError, match=r"pass callbacks=\[callback\]"):
        est.meta_fit(X, y, callbacks=print)
    with pytest.raises(ValueError, match="validation_tasks is empty"):
        est.meta_fit(X, y, validation_tasks=[])
    with pytest.raises(TypeError, match="take skorch callbacks"):
        MultiTaskRegressor(max_epochs=1, callbacks=[print]).fit(
            X, X[:, 0], task_ids=np.repeat([0, 1, 2], 80)
        )


def test_prior_mismatch_names_the_architecture_parameter():
    from skmeta import MAMLClassifier

    X, y = _pool()
    images = np.random.default_rng(0).random((60, 16, 16))
    labels = np.repeat(np.arange(6), 10)
    conv = ProtoNetClassifier(backbone="conv4", n_way=3, n_query=5, n_meta_iterations=1)
    prior = conv.meta_fit(images, labels).export_prior()
    with pytest.raises(ValueError, match=r"backbone='conv4' \(this estimator: 'mlp'\)"):
        ProtoNetClassifier(backbone="mlp", prior=prior).fit(images[[0, 10, 20]], [0, 1, 2])
    maml = MAMLClassifier(n_way=3, n_meta_iterations=1).meta_fit(X, y).export_prior()
    with pytest.raises(ValueError, match=r"n_way=3 \(this estimator: 5\)"):
        MAMLClassifier(n_way=5, prior=maml).fit(X[::20][:5], [0, 1, 2, 3, 4])


def test_task_ids_of_the_wrong_shape_are_named():
    from skmeta.multitask import MultiTaskRegressor

    X, _ = _pool()
    tid = np.repeat([0, 1, 2], 80)
    with pytest.raises(ValueError, match=r"task_ids must be 1-D.*shape \(240, 2\)"):
        MultiTaskRegressor(max_epochs=1).fit(X, X[:, 0], task_ids=np.c_[tid, tid])
    est = MultiTaskRegressor(max_epochs=1, random_state=0).fit(X, X[:, 0], task_ids=tid[:, None])
    with pytest.raises(ValueError, match="task_ids must be 1-D"):
        est.predict(X, task_ids=np.int64(0))


def test_a_prior_path_checks_columns_too(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = _pool()
    cols = list("abcdef")
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    est.meta_fit(pd.DataFrame(X, columns=cols), y).export_prior(tmp_path / "p.pt")
    support = pd.DataFrame(X[[0, 20, 40]], columns=cols)
    adapted = ProtoNetClassifier(prior=tmp_path / "p.pt").fit(support, [0, 1, 2])
    assert adapted.predict(support).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="Reorder them"):
        ProtoNetClassifier(prior=tmp_path / "p.pt").fit(support[cols[::-1]], [0, 1, 2])
    with pytest.warns(UserWarning, match="X does not have feature names"):
        ProtoNetClassifier(prior=tmp_path / "p.pt").fit(support.to_numpy(), [0, 1, 2])


def test_patience_without_validation_tasks_warns():
    X, y = _pool()
    est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, patience=1)
    with pytest.warns(UserWarning, match="no validation_tasks were given"):
        est.meta_fit(X, y)


def test_tasks_with_an_empty_query_set_are_refused():
    from skmeta import SiameseClassifier
    from skmeta.evaluation import evaluate
    from skmeta.tasks import EpisodeSampler

    X, y = make_pool(n_classes=10, n_noise=4)
    empty = [Task(X[:6], [0, 0, 1, 1, 2, 2], X[:0], [])]
    for tasks in (EpisodeSampler(X, y, n_way=3, n_shot=2, n_query=0), empty):
        for est in (ProtoNetClassifier(n_way=3), SiameseClassifier(n_way=3)):
            with pytest.raises(ValueError, match="at least one query example.*n_query >= 1"):
                est.set_params(n_meta_iterations=2).meta_fit(tasks)
    fitted = ProtoNetClassifier(n_way=3, n_query=2, n_meta_iterations=2).meta_fit(X, y)
    with pytest.raises(ValueError, match="at least one query example"):
        fitted.meta_fit(X, y, validation_tasks=empty)
    with pytest.raises(ValueError, match="non-empty query set"):
        evaluate(fitted, empty, n_tasks=None)


def test_divergence_is_an_error_that_names_the_step_size():
    # sklearn's MLP refuses non-finite weights; a diverged meta-learner must not hand back
    # a model that predicts nan.
    from skmeta import MAMLRegressor, MultiTaskRegressor
    from skmeta.datasets import SinusoidTasks

    with pytest.raises(ValueError, match=r"Meta-training diverged.*meta_lr=1000000\.0"):
        est = MAMLRegressor(meta_lr=1e6, n_meta_iterations=20, random_state=0)
        est.meta_fit(SinusoidTasks(random_state=0))
    assert not hasattr(est, "meta_params_")
    with pytest.raises(ValueError, match=r"Meta-training diverged.*inner_lr=100000000\.0"):
        MAMLRegressor(inner_lr=1e8, n_meta_iterations=5).meta_fit(SinusoidTasks(random_state=0))

    rng = np.random.default_rng(0)
    X = rng.uniform(-5, 5, (10, 1))
    est = MAMLRegressor(n_meta_iterations=2, random_state=0).meta_fit(SinusoidTasks(random_state=0))
    est.fit(X, np.sin(X[:, 0]))
    before = est.predict(X)
    est.set_params(inner_lr=1e8, n_adapt_steps=10)
    with pytest.raises(ValueError, match=r"diverged while adapting.*inner_lr=100000000\.0"):
        est.fit(X, np.sin(X[:, 0]))
    np.testing.assert_array_equal(est.predict(X), before)  # the last adaptation stays

    X, g = rng.normal(size=(200, 4)), np.repeat(np.arange(4), 50)
    with pytest.raises(ValueError, match=r"diverged: training produced nan.*learning_rate"):
        MultiTaskRegressor(learning_rate=1e30, max_epochs=3, random_state=0).fit(
            X, X[:, 0], task_ids=g
        )


def test_evaluate_scores_each_task_once_and_checks_n_tasks():
    # A finite collection is not cycled to reach n_tasks: the same tasks twice would
    # narrow the interval without new evidence.
    from skmeta.evaluation import evaluate
    from skmeta.tasks import EpisodeSampler

    X, y = _pool()
    finite = EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, n_episodes=10, random_state=0)
    est = ProtoNetClassifier(random_state=0)
    with pytest.raises(ValueError, match=r"Asked for 600 tasks but the collection holds 10"):
        evaluate(est, finite)
    with pytest.raises(ValueError, match="collection holds 10"):
        evaluate(est, finite.sample(10), n_tasks=11)
    assert evaluate(est, finite, n_tasks=None).n_tasks == 10
    assert evaluate(est, finite, n_tasks=4).n_tasks == 4
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="n_tasks must be an int >= 1 or None"):
            evaluate(est, finite, n_tasks=bad)
    endless = EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, random_state=0)
    assert evaluate(est, endless, n_tasks=15).n_tasks == 15
