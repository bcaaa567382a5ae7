"""FineTuneClassifier: pretraining on all classes, then fine-tuning a new head."""

import numpy as np
import pytest
import torch
from conftest import make_pool
from skorch.history import History

from skmeta import FineTuneClassifier
from skmeta.tasks import EpisodeSampler


@pytest.fixture(scope="module")
def pretrained():
    X, y = make_pool(n_classes=12, n_per_class=10)
    est = FineTuneClassifier(n_meta_iterations=20, batch_size=32, random_state=0)
    return est.meta_fit(X[y >= 4], y[y >= 4]), X, y


def _support(X, y, classes, n_shot=2):
    rows = np.concatenate([np.flatnonzero(y == c)[:n_shot] for c in classes])
    return X[rows], y[rows]


@pytest.mark.parametrize(
    "freeze, frozen",
    [("body", {"body.1", "body.3"}), (1, {"body.1"}), (0, set())],
)
def test_frozen_layers_keep_their_pretrained_values(pretrained, freeze, frozen):
    est, X, y = pretrained
    est.set_params(freeze=freeze, finetune_lr=0.01)
    est.fit(*_support(X, y, [0, 1, 2]))
    adapted = est.adaptation_["weights"]
    for name, theta in est.meta_params_.items():
        layer = name.rsplit(".", 1)[0]
        assert torch.equal(adapted[name], theta) == (layer in frozen), name
    est.set_params(freeze="body", finetune_lr=2e-2)


def test_conv4_layers_include_their_norm():
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 16, 16)).astype(np.float32), np.repeat([0, 1, 2], 4)
    est = FineTuneClassifier(backbone="conv4", freeze=2, n_finetune_steps=3, random_state=0)
    est.fit(X, y)
    start = est._initial_params(est.network_, (1, 16, 16), (16, 16), torch.device("cpu"))
    changed = {k for k, v in start.items() if not torch.equal(v, est.adaptation_["weights"][k])}
    # blocks 1-2 (conv + TaskBatchNorm each) are frozen; blocks 3-4 are fine-tuned
    assert {k.rsplit(".", 1)[0] for k in changed} == {
        "body.0.8",
        "body.0.9",
        "body.0.12",
        "body.0.13",
    }


def test_head_is_new_and_sized_to_any_number_of_classes(pretrained):
    est, X, y = pretrained
    assert est.n_pretrain_classes_ == 8 and not any(k.startswith("head") for k in est.meta_params_)
    for classes in ([0, 1], [0, 1, 2], list(range(12))):
        est.fit(*_support(X, y, classes))
        assert est.adaptation_["weights"]["head.weight"].shape == (len(classes), 64)
        assert est.predict_proba(X[:5]).shape == (5, len(classes))
        assert set(est.predict(X)) <= set(classes)


def test_pretraining_records_skorch_history(pretrained):
    est = pretrained[0]
    assert isinstance(est.pretrain_history_, History)
    assert len(est.pretrain_history_) == len(est.meta_history_) == 20
    losses = est.pretrain_history_[:, "train_loss"]
    assert losses[-1] < losses[0]
    assert all(0 <= h["accuracy"] <= 1 for h in est.meta_history_)


def test_global_classes_from_episodes_and_new_classes_per_task():
    X, y = make_pool(n_classes=8, n_per_class=10)
    episodes = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=2, random_state=0)
    est = FineTuneClassifier(n_meta_iterations=10, meta_batch_size=2, random_state=0)
    assert est.meta_fit(episodes).n_pretrain_classes_ == 8  # task.classes: the pool's 8
    pairs = [(X[y == c], y[y == c]) for c in range(8)]  # one class per task, cycled twice
    assert est.meta_fit(pairs).n_pretrain_classes_ == 8
    est.meta_fit(X, y, groups=y % 2)
    assert est.n_pretrain_classes_ == 8


def test_bad_freeze_gets_a_clear_error(pool):
    X, y = pool
    with pytest.raises(ValueError, match="freeze=3, but the body has only 2 layers"):
        FineTuneClassifier(freeze=3).fit(X[:20], y[:20])
    with pytest.raises(ValueError, match="freeze=3, but the body has only 2 layers"):
        FineTuneClassifier(freeze=3, n_meta_iterations=1).meta_fit(X, y)
    with pytest.raises(ValueError, match="freeze"):
        FineTuneClassifier(freeze="all").fit(X[:20], y[:20])


def test_fit_from_the_prior_ignores_random_state(pretrained):
    est, X, y = pretrained
    X_s, y_s = _support(X, y, [0, 1, 2])
    a = FineTuneClassifier(prior=est.export_prior(), random_state=1).fit(X_s, y_s)
    b = FineTuneClassifier(prior=est.export_prior(), random_state=2).fit(X_s, y_s)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def _examples_per_step(est):
    return [b["train_batch_size"] for step in est.pretrain_history_ for b in step["batches"]]


def _params_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_batch_size_is_examples_per_step_from_a_pool(pool):
    X, y = pool
    kw = dict(n_meta_iterations=5, batch_size=16, random_state=0)
    est = FineTuneClassifier(meta_batch_size=3, **kw).meta_fit(X, y)
    assert _examples_per_step(est) == [16] * 5
    # meta_batch_size counts tasks, and a pool has none: it changes nothing here
    other = FineTuneClassifier(meta_batch_size=7, **kw).meta_fit(X, y)
    assert _params_equal(est.meta_params_, other.meta_params_)
    est.set_params(batch_size=40).meta_fit(X, y, groups=y % 2)
    assert _examples_per_step(est) == [40] * 5


def test_meta_batch_size_is_tasks_per_step_from_tasks(pool):
    X, y = pool
    episodes = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=2, random_state=0)  # 15 rows
    kw = dict(n_meta_iterations=4, meta_batch_size=3, random_state=0)
    est = FineTuneClassifier(batch_size=16, **kw).meta_fit(episodes)
    assert _examples_per_step(est) == [3 * 15] * 4
    # batch_size counts a pool's examples: it changes nothing here
    other = FineTuneClassifier(batch_size=99, **kw).meta_fit(episodes)
    assert _params_equal(est.meta_params_, other.meta_params_)
    pairs = [(X[y == c], y[y == c]) for c in range(6)]  # 20 rows per task
    est.set_params(meta_batch_size=2).meta_fit(pairs)
    assert _examples_per_step(est) == [2 * 20] * 4


@pytest.mark.parametrize("source", ["pool", "episodes"])
def test_resume_with_batch_sizes_equals_an_uninterrupted_run(pool, tmp_path, source):
    X, y = pool
    data = (X, y) if source == "pool" else (EpisodeSampler(X, y, 5, 1, 2, random_state=0),)
    kw = dict(batch_size=24, meta_batch_size=3, random_state=0)
    straight = FineTuneClassifier(n_meta_iterations=9, **kw).meta_fit(*data)
    path = tmp_path / "pretrain.ckpt"
    FineTuneClassifier(n_meta_iterations=4, **kw).meta_fit(*data, checkpoint=path)
    resumed = FineTuneClassifier(n_meta_iterations=9, **kw).meta_fit(*data, checkpoint=path)
    assert _params_equal(straight.meta_params_, resumed.meta_params_)
    assert _examples_per_step(resumed) == _examples_per_step(straight)[4:]
    for name in ("batch_size", "meta_batch_size"):
        with pytest.raises(ValueError, match=f"{name} differ"):
            FineTuneClassifier(n_meta_iterations=9, **{**kw, name: 5}).meta_fit(
                *data, checkpoint=path
            )


def test_freeze_true_is_refused_as_ambiguous():
    rng = np.random.default_rng(0)
    X, y = rng.random((12, 4)).astype(np.float32), np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match="freeze=True is ambiguous"):
        FineTuneClassifier(freeze=True, n_finetune_steps=1).fit(X, y)


def test_pretraining_on_one_class_is_refused():
    rng = np.random.default_rng(0)
    X = rng.random((12, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="the pool has one class"):
        FineTuneClassifier(n_meta_iterations=2).meta_fit(X, np.zeros(12, dtype=int))
