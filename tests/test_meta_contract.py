"""The meta-estimator contract of DESIGN.md, checked on every meta-learner."""

import pickle
from itertools import islice

import joblib
import numpy as np
import pytest
import torch
from conftest import make_pool
from sklearn.base import clone

from skmeta import (
    BlackBoxClassifier,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    MatchingNetClassifier,
    Prior,
    ProtoNetClassifier,
    RelationNetClassifier,
    ReptileClassifier,
    ReptileRegressor,
    SiameseClassifier,
)
from skmeta.datasets import SinusoidTasks
from skmeta.evaluation import evaluate
from skmeta.tasks import EpisodeSampler, Task, split_tasks, tasks_from_groups

META_LEARNERS = [
    pytest.param(lambda **kw: ProtoNetClassifier(n_query=5, **kw), id="ProtoNetClassifier"),
    pytest.param(lambda **kw: MAMLClassifier(n_query=5, **kw), id="MAMLClassifier"),
    pytest.param(
        lambda **kw: MAMLClassifier(n_query=5, first_order=True, **kw), id="FOMAMLClassifier"
    ),
    pytest.param(
        lambda **kw: MAMLClassifier(n_query=5, learn_inner_lr=True, **kw), id="MetaSGDClassifier"
    ),
    pytest.param(lambda **kw: MAMLClassifier(n_query=5, adapt="head", **kw), id="ANILClassifier"),
    pytest.param(
        lambda **kw: ReptileClassifier(**{"n_query": 5, "inner_lr": 0.4, "meta_lr": 0.5, **kw}),
        id="ReptileClassifier",
    ),
    pytest.param(lambda **kw: FineTuneClassifier(**kw), id="FineTuneClassifier"),
    pytest.param(lambda **kw: MatchingNetClassifier(n_query=5, **kw), id="MatchingNetClassifier"),
    pytest.param(lambda **kw: RelationNetClassifier(n_query=5, **kw), id="RelationNetClassifier"),
    pytest.param(lambda **kw: SiameseClassifier(n_query=5, **kw), id="SiameseClassifier"),
    pytest.param(lambda **kw: BlackBoxClassifier(n_query=5, **kw), id="BlackBoxClassifier"),
]


def _five_way(X, y, n_shot=2):
    """A 5-way support set: the first ``n_shot`` rows of the first five classes."""
    rows = np.concatenate([np.flatnonzero(y == c)[:n_shot] for c in np.unique(y)[:5]])
    return X[rows], y[rows]


def _params_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def split_pool():
    X, y = make_pool(n_classes=60)
    return split_tasks(X, y, groups=y, test_size=0.33, random_state=0)


@pytest.mark.parametrize("make", [p for p in META_LEARNERS if p.id != "ReptileClassifier"])
def test_meta_training_helps_on_unseen_classes(make, split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    test = EpisodeSampler(X_te, y_te, n_way=5, n_shot=1, n_query=5, random_state=1)
    untrained = evaluate(make(random_state=0), test, n_tasks=100)
    trained = evaluate(make(n_meta_iterations=200, random_state=0).meta_fit(X_tr, y_tr), test, 100)
    assert trained.mean > untrained.mean + 0.1, (str(untrained), str(trained))


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: MAMLRegressor(meta_lr=0.01, **kw),
        lambda **kw: MAMLRegressor(meta_lr=0.01, learn_inner_lr=True, **kw),
        lambda **kw: ReptileRegressor(**kw),
    ],
    ids=["MAMLRegressor", "MetaSGDRegressor", "ReptileRegressor"],
)
def test_regressors_learn_sinusoids(make):
    # Reptile needs many meta-updates on few-shot classification; sinusoids show it learns.
    test = SinusoidTasks(n_support=10, n_query=50, n_tasks=100, random_state=1)
    untrained = evaluate(make(random_state=0), test, n_tasks=None)
    trained = make(n_meta_iterations=300, random_state=0).meta_fit(SinusoidTasks(random_state=0))
    score = evaluate(trained, test, n_tasks=None)
    assert score.mean < 0.4 * untrained.mean, (str(untrained), str(score))


@pytest.mark.parametrize("make", META_LEARNERS)
def test_fit_is_reentrant_and_never_changes_the_prior(make, split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    est = make(n_meta_iterations=5, random_state=0).meta_fit(X_tr, y_tr)
    prior = {k: v.clone() for k, v in est.meta_params_.items()}
    a, b = EpisodeSampler(X_te, y_te, n_way=5, n_shot=2, n_query=3, random_state=0).sample(2)
    first = est.fit(a.X_support, a.y_support).predict_proba(a.X_query)
    est.fit(b.X_support, b.y_support)
    again = est.fit(a.X_support, a.y_support).predict_proba(a.X_query)
    np.testing.assert_allclose(first, again, rtol=1e-6)
    assert _params_equal(prior, est.meta_params_)
    state = dict(est.__dict__)
    est.predict(a.X_query)
    assert est.__dict__ == state


@pytest.mark.parametrize("make", META_LEARNERS)
@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [3, 7, 11], [-1, 0, 1]])
def test_classes_keep_any_label_type(make, labels, pool):
    X, y = pool
    rows = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(3)])
    y_named = np.repeat(np.array(labels), 3)
    est = make(random_state=0).fit(X[rows], y_named)
    assert est.classes_.tolist() == sorted(labels)
    assert set(est.predict(X[:10]).tolist()) <= set(labels)


@pytest.mark.parametrize("make", META_LEARNERS)
def test_clone_drops_the_prior_but_a_prior_parameter_survives(make, split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    est = make(n_meta_iterations=5, random_state=0).meta_fit(X_tr, y_tr)
    assert not hasattr(clone(est), "meta_params_")
    task = EpisodeSampler(X_te, y_te, n_way=5, n_shot=1, n_query=3, random_state=0).sample(1)[0]
    expected = est.fit(task.X_support, task.y_support).predict_proba(task.X_query)
    carried = clone(make(prior=est.export_prior(), random_state=1))
    got = carried.fit(task.X_support, task.y_support).predict_proba(task.X_query)
    np.testing.assert_allclose(expected, got, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("make", META_LEARNERS)
def test_prior_saves_to_a_path_and_loads_from_it(make, split_pool, tmp_path):
    X_tr, X_te, y_tr, y_te = split_pool
    est = make(n_meta_iterations=5, random_state=0).meta_fit(X_tr, y_tr)
    path = tmp_path / "prior.pt"
    exported = est.export_prior(path)
    loaded = Prior.load(path)
    assert _params_equal(exported.params, loaded.params)
    assert loaded.input_shape == exported.input_shape and len(loaded.meta_history) == 5
    X_s, y_s = _five_way(X_te, y_te)
    by_path = make(prior=str(path)).fit(X_s, y_s)
    np.testing.assert_allclose(
        by_path.predict_proba(X_te), est.fit(X_s, y_s).predict_proba(X_te), rtol=1e-4, atol=1e-6
    )
    # meta-training can start from a prior too
    warm = make(prior=path, n_meta_iterations=1, random_state=0).meta_fit(X_tr, y_tr)
    assert not _params_equal(warm.meta_params_, loaded.params)


@pytest.mark.parametrize("make", META_LEARNERS)
@pytest.mark.parametrize(
    "meta_sizes, fit_sizes",
    [(np.array([16, 16]), [16, 16]), ([np.int64(16)], (16,)), (16, [np.int64(16)])],
    ids=["ndarray", "numpy-ints", "one-int"],
)
def test_layer_sizes_of_any_array_like_form_are_one_architecture(
    make, meta_sizes, fit_sizes, split_pool, tmp_path
):
    # A numpy array, numpy ints or one int (one layer) meta-train, save to a file, load
    # (torch's weights-only unpickler) and adapt, beside the same sizes written otherwise.
    X_tr, X_te, y_tr, y_te = split_pool
    est = make(hidden_layer_sizes=meta_sizes, n_meta_iterations=2, random_state=0)
    est.meta_fit(X_tr, y_tr)
    X_s, y_s = _five_way(X_te, y_te)
    expected = est.fit(X_s, y_s).predict_proba(X_te)
    est.export_prior(tmp_path / "prior.pt")
    loaded = make(prior=Prior.load(tmp_path / "prior.pt"), hidden_layer_sizes=fit_sizes)
    np.testing.assert_allclose(
        loaded.fit(X_s, y_s).predict_proba(X_te), expected, rtol=1e-4, atol=1e-6
    )
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        make(prior=est.export_prior(), hidden_layer_sizes=(16, 8)).fit(X_s, y_s)


@pytest.mark.parametrize("make", META_LEARNERS)
@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_pickle_round_trip_gives_identical_predictions(make, dump, split_pool, tmp_path):
    X_tr, X_te, y_tr, y_te = split_pool
    est = make(n_meta_iterations=5, random_state=0).meta_fit(X_tr, y_tr).fit(*_five_way(X_te, y_te))
    if dump == "pickle":
        restored = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "est.joblib")
        restored = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(est.predict_proba(X_te), restored.predict_proba(X_te))
    assert _params_equal(est.meta_params_, restored.meta_params_)
    assert all(v.device.type == "cpu" for v in restored.meta_params_.values())


@pytest.mark.parametrize("make", META_LEARNERS)
def test_meta_fit_accepts_every_task_form(make, pool):
    X, y = pool
    groups = y // 5  # eight tasks of five classes each
    tasks = tasks_from_groups(X, y, groups, n_support=2, random_state=0)
    pairs = [(X[groups == g], y[groups == g]) for g in range(8)]
    sampler = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=5, random_state=0)
    for form in [
        dict(tasks=tasks),
        dict(tasks=pairs),
        dict(tasks=sampler),
        dict(tasks=X, y=y),
        dict(tasks=X, y=y, groups=groups),
    ]:
        est = make(n_meta_iterations=3, meta_batch_size=2, random_state=0).meta_fit(**form)
        assert est.n_meta_iter_ == 3 and len(est.meta_history_) == 3
    with pytest.warns(UserWarning, match="ran out after 2 meta-updates"):
        est = make(n_meta_iterations=5, meta_batch_size=2, random_state=0)
        est.meta_fit(t for t in tasks[:4])
    assert est.n_meta_iter_ == 2


@pytest.mark.parametrize("make", META_LEARNERS)
def test_meta_fit_is_reproducible_under_random_state(make, pool):
    X, y = pool
    a = make(n_meta_iterations=4, random_state=7).meta_fit(X, y)
    b = make(n_meta_iterations=4, random_state=7).meta_fit(X, y)
    c = make(n_meta_iterations=4, random_state=8).meta_fit(X, y)
    assert _params_equal(a.meta_params_, b.meta_params_)
    assert not _params_equal(a.meta_params_, c.meta_params_)
    assert [h["loss"] for h in a.meta_history_] == [h["loss"] for h in b.meta_history_]


@pytest.mark.parametrize("make", META_LEARNERS)
def test_validation_selects_the_best_prior_and_stops_early(make, split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    val = EpisodeSampler(X_te, y_te, n_way=5, n_shot=1, n_query=5, n_episodes=20, random_state=0)
    est = make(
        n_meta_iterations=400, meta_lr=0.05, validation_interval=5, patience=3, random_state=0
    )
    est.meta_fit(X_tr, y_tr, validation_tasks=val)
    scores = [h["val_score"] for h in est.meta_history_ if "val_score" in h]
    assert est.n_meta_iter_ < 400  # stopped early
    assert est.best_validation_score_ == max(scores)
    assert est.n_meta_iter_ == est.best_meta_iteration_ + 3 * 5
    assert evaluate(est, val, n_tasks=None).mean == pytest.approx(max(scores))


@pytest.mark.parametrize("make", META_LEARNERS)
def test_checkpoint_resume_equals_an_uninterrupted_run(make, pool, tmp_path):
    X, y = pool
    straight = make(n_meta_iterations=8, random_state=0).meta_fit(X, y)
    path = tmp_path / "run.ckpt"
    part = make(n_meta_iterations=5, random_state=0).meta_fit(X, y, checkpoint=path)
    assert part.n_meta_iter_ == 5
    resumed = make(n_meta_iterations=8, random_state=0).meta_fit(X, y, checkpoint=path)
    assert resumed.n_meta_iter_ == 8 and len(resumed.meta_history_) == 8
    assert _params_equal(straight.meta_params_, resumed.meta_params_)
    with pytest.raises(ValueError, match="meta_lr differ"):
        make(n_meta_iterations=8, meta_lr=0.1, random_state=0).meta_fit(X, y, checkpoint=path)


def test_a_resumed_run_selects_its_prior_from_its_own_validations(tmp_path):
    # The checkpoint's best prior was scored on its run's validation tasks: resumed
    # without validation, the run keeps its last θ; with other tasks, selection restarts.
    tasks = SinusoidTasks(n_support=5, random_state=0)

    def reptile(n):
        return ReptileRegressor(
            hidden_layer_sizes=(8,), n_meta_iterations=n, validation_interval=5, random_state=0
        )

    val = SinusoidTasks(n_support=5, n_tasks=5, random_state=1)
    path = tmp_path / "run.ckpt"
    first = reptile(10).meta_fit(tasks, validation_tasks=val, checkpoint=path)
    assert first.best_meta_iteration_ in (5, 10)
    resumed = reptile(40).meta_fit(tasks, checkpoint=path)
    assert _params_equal(resumed.meta_params_, reptile(40).meta_fit(tasks).meta_params_)
    assert not hasattr(resumed, "best_meta_iteration_")
    path.unlink()
    reptile(10).meta_fit(tasks, validation_tasks=val, checkpoint=path)
    other = SinusoidTasks(n_support=5, n_tasks=5, random_state=2)
    with pytest.warns(UserWarning, match="validation tasks differ from those of the checkpoint"):
        again = reptile(20).meta_fit(tasks, validation_tasks=other, checkpoint=path)
    assert again.best_meta_iteration_ in (15, 20)  # chosen among this run's validations
    # the same validation tasks: no warning, the selection goes on
    path.unlink()
    reptile(10).meta_fit(tasks, validation_tasks=val, checkpoint=path)
    reptile(20).meta_fit(tasks, validation_tasks=val, checkpoint=path)


def test_a_checkpoint_names_the_class_that_wrote_it(tmp_path):
    tasks = SinusoidTasks(n_support=5, random_state=0)
    path = tmp_path / "run.ckpt"
    MAMLRegressor(hidden_layer_sizes=(8,), n_meta_iterations=2).meta_fit(tasks, checkpoint=path)
    with pytest.raises(ValueError, match="written by a MAMLRegressor, not a ReptileRegressor"):
        ReptileRegressor(hidden_layer_sizes=(8,), n_meta_iterations=4).meta_fit(
            tasks, checkpoint=path
        )


def test_an_early_stopped_run_stays_stopped_when_resumed(split_pool, tmp_path):
    X_tr, X_te, y_tr, y_te = split_pool
    val = EpisodeSampler(X_te, y_te, n_way=5, n_shot=1, n_query=5, n_episodes=10, random_state=0)
    kw = dict(n_meta_iterations=300, meta_lr=0.05, validation_interval=2, patience=1)
    straight = ProtoNetClassifier(**kw, random_state=0).meta_fit(X_tr, y_tr, validation_tasks=val)
    assert straight.n_meta_iter_ < 300  # stopped early
    path = tmp_path / "run.ckpt"
    for _ in range(3):  # a "resume" script run again and again
        again = ProtoNetClassifier(**kw, random_state=0)
        again.meta_fit(X_tr, y_tr, validation_tasks=val, checkpoint=path)
        assert again.n_meta_iter_ == straight.n_meta_iter_
        assert _params_equal(straight.meta_params_, again.meta_params_)


@pytest.mark.parametrize("make", META_LEARNERS)
def test_interrupted_meta_fit_keeps_finished_work(make, pool, tmp_path):
    X, y = pool
    sampler = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=5, random_state=0)

    def interrupted(n):
        for i, task in enumerate(sampler):
            if i == n:
                raise KeyboardInterrupt
            yield task

    path = tmp_path / "run.ckpt"
    kw = dict(n_meta_iterations=6, meta_batch_size=2, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        make(**kw).meta_fit(interrupted(7), checkpoint=path)  # dies inside the 4th update
    state = torch.load(path, weights_only=True)
    assert state["start"] == 3
    resumed = make(**kw).meta_fit(sampler, checkpoint=path)
    straight = make(**kw).meta_fit(sampler)
    assert _params_equal(straight.meta_params_, resumed.meta_params_)


@pytest.mark.parametrize("make", META_LEARNERS)
def test_progress_bar_only_when_verbose(make, pool, capsys):
    X, y = pool
    make(n_meta_iterations=3, verbose=0, random_state=0).meta_fit(X, y)
    assert capsys.readouterr().err == ""
    make(n_meta_iterations=3, verbose=1, random_state=0).meta_fit(X, y)
    assert "meta_fit" in capsys.readouterr().err


@pytest.mark.parametrize("make", META_LEARNERS)
def test_device_auto_and_unavailable_cuda(make, pool):
    X, y = pool
    est = make(random_state=0).fit(*_five_way(X, y))
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert est.device_.type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            make(device="cuda").fit(*_five_way(X, y))


def test_protonet_accepts_images_in_every_layout():
    rng = np.random.default_rng(0)
    images = rng.random((12, 16, 16)).astype(np.float32)
    y = np.repeat([0, 1, 2], 4)
    layouts = [images, images[:, None], images.reshape(12, -1)]
    probas = [
        ProtoNetClassifier(backbone="conv4", random_state=0).fit(X, y).predict_proba(X)
        for X in layouts
    ]
    for p in probas[1:]:
        np.testing.assert_allclose(probas[0], p, rtol=1e-5, atol=1e-6)


def test_protonet_predictions_do_not_depend_on_other_queries():
    """Non-transductive batch norm: a query's prediction ignores the rest of the batch."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 16, 16)).astype(np.float32)
    y = np.repeat(np.arange(4), 2)
    est = ProtoNetClassifier(backbone="conv4", random_state=0).fit(X[:8], y)
    together = est.predict_proba(X[8:])
    alone = np.vstack([est.predict_proba(X[i : i + 1]) for i in range(8, 40)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-6)
    trans = ProtoNetClassifier(backbone="conv4", transductive=True, random_state=0).fit(X[:8], y)
    assert not np.allclose(trans.predict_proba(X[8:])[:1], trans.predict_proba(X[8:9]))


def test_protonet_meta_trains_a_user_module(pool):
    X, y = pool
    encoder = torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8))
    est = ProtoNetClassifier(backbone=encoder, n_query=5, n_meta_iterations=3, random_state=0)
    est.meta_fit(X, y)
    assert est.meta_params_["0.weight"].shape == (16, 32)
    assert torch.equal(encoder[0].weight, clone(est).backbone[0].weight)  # user's module untouched
    est.fit(X[:10], y[:10])
    assert est.prototypes_.shape == (len(np.unique(y[:10])), 8)


class _ModeRecorder(torch.nn.Module):
    """Records whether it ran in training mode, call by call."""

    def __init__(self):
        super().__init__()
        self.modes = []

    def forward(self, x):
        self.modes.append(self.training)
        return x


def _user_encoder(n_features, recorder=None):
    """A user's module with torch's dropout and batch norm (running statistics)."""
    layers = [torch.nn.Linear(n_features, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU()]
    layers += [torch.nn.Dropout(0.5), torch.nn.Linear(16, 8)]
    return torch.nn.Sequential(*layers, *([recorder] if recorder is not None else []))


@pytest.mark.parametrize(
    "make",
    [
        *META_LEARNERS,
        pytest.param(
            lambda **kw: MAMLClassifier(n_query=5, batching="vmap", **kw), id="MAMLClassifier-vmap"
        ),
    ],
)
def test_a_user_module_with_dropout_and_batch_norm_predicts_deterministically(make, pool):
    """Dropout runs in meta-training's updates only; torch's batch norm becomes the task's
    own (TaskBatchNorm), so a query's prediction ignores the other queries and a prior
    carries everything the network needs."""
    X, y = pool
    recorder = _ModeRecorder()
    est = make(backbone=_user_encoder(X.shape[1], recorder), n_meta_iterations=3, random_state=0)
    est.meta_fit(X, y)
    network = est.network_
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in network.modules())
    assert not network.training
    meta_modes = [m for r in network.modules() if isinstance(r, _ModeRecorder) for m in r.modes]
    assert meta_modes and meta_modes[0] is True  # the first meta-update ran in training mode
    Xs, ys = _five_way(X, y)
    est.fit(Xs, ys)
    for r in network.modules():
        if isinstance(r, _ModeRecorder):
            r.modes.clear()
    state = {k: v.clone() for k, v in network.state_dict().items()}
    together = est.predict_proba(X[:6])
    np.testing.assert_array_equal(together, est.predict_proba(X[:6]))
    alone = np.vstack([est.predict_proba(X[i : i + 1]) for i in range(6)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-6)
    assert all(torch.equal(state[k], v) for k, v in network.state_dict().items())
    modes = [m for r in network.modules() if isinstance(r, _ModeRecorder) for m in r.modes]
    assert modes and not any(modes)  # fit and predict ran in evaluation mode
    fresh = make(backbone=_user_encoder(X.shape[1]), prior=est.export_prior())
    np.testing.assert_allclose(fresh.fit(Xs, ys).predict_proba(X[:6]), together, atol=1e-6)


def test_task_with_descriptor_is_accepted_by_meta_fit(pool):
    X, y = pool
    tasks = [
        Task(X[y == c][:2], [0, 0], X[y == c][2:4], [0, 0], descriptor=[float(c)]) for c in range(4)
    ]
    pairs = [
        Task(
            np.vstack([a.X_support, b.X_support]),
            [0, 0, 1, 1],
            np.vstack([a.X_query, b.X_query]),
            [0, 0, 1, 1],
            descriptor=[1.0],
        )
        for a, b in zip(tasks[::2], tasks[1::2])
    ]
    est = ProtoNetClassifier(n_meta_iterations=2, random_state=0).meta_fit(pairs)
    assert len(list(islice(est.meta_history_, 5))) == 2


@pytest.mark.parametrize("make", META_LEARNERS)
def test_predict_log_proba_is_the_log_of_predict_proba(make, pool):
    X, y = pool
    est = make(random_state=0).fit(*_five_way(X, y))
    log_proba = est.predict_log_proba(X[:20])
    assert log_proba.shape == (20, 5) and np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(np.exp(log_proba), est.predict_proba(X[:20]), atol=1e-12)


def test_resuming_restores_the_task_stream_without_replaying_it(pool, tmp_path, monkeypatch):
    from skmeta.tasks import EpisodeSampler as Sampler

    X, y = pool
    path = tmp_path / "run.ckpt"
    ProtoNetClassifier(n_meta_iterations=30, n_query=5, random_state=0).meta_fit(
        X, y, checkpoint=path
    )
    assert isinstance(torch.load(path, weights_only=True)["stream"], str)
    draws = []
    original = Sampler._draw
    monkeypatch.setattr(Sampler, "_draw", lambda self, rng: draws.append(1) or original(self, rng))
    resumed = ProtoNetClassifier(n_meta_iterations=33, n_query=5, random_state=0)
    resumed.meta_fit(X, y, checkpoint=path)
    assert len(draws) == 1 + 3  # the read-ahead task, then three meta-updates: no replay
    monkeypatch.undo()
    straight = ProtoNetClassifier(n_meta_iterations=33, n_query=5, random_state=0).meta_fit(X, y)
    assert _params_equal(straight.meta_params_, resumed.meta_params_)
    # an endless sampler passed as the tasks is resumed the same way
    sampler = Sampler(X, y, n_way=5, n_shot=1, n_query=5, random_state=0)
    path = tmp_path / "sampler.ckpt"
    ProtoNetClassifier(n_meta_iterations=30, n_query=5).meta_fit(sampler, checkpoint=path)
    assert isinstance(torch.load(path, weights_only=True)["stream"], str)


def test_a_synthetic_task_family_resumes_without_replaying(tmp_path, monkeypatch):
    from skmeta import BlackBoxRegressor
    from skmeta.datasets import SinusoidTasks

    tasks = SinusoidTasks(n_support=5, random_state=0)
    path = tmp_path / "run.ckpt"
    BlackBoxRegressor(n_meta_iterations=20, meta_batch_size=2, random_state=0).meta_fit(
        tasks, checkpoint=path
    )
    assert isinstance(torch.load(path, weights_only=True)["stream"], str)
    draws = []
    original = SinusoidTasks._drawer

    def counting(self):
        draw = original(self)
        return lambda rng: draws.append(1) or draw(rng)

    monkeypatch.setattr(SinusoidTasks, "_drawer", counting)
    resumed = BlackBoxRegressor(n_meta_iterations=23, meta_batch_size=2, random_state=0)
    resumed.meta_fit(tasks, checkpoint=path)
    assert len(draws) == 1 + 3 * 2  # the read-ahead task, then three meta-batches of two
    monkeypatch.undo()
    straight = BlackBoxRegressor(n_meta_iterations=23, meta_batch_size=2, random_state=0)
    assert _params_equal(straight.meta_fit(tasks).meta_params_, resumed.meta_params_)
    # a generator given as random_state is drawn from as it is (no position to save)
    shared = SinusoidTasks(n_tasks=3, random_state=np.random.default_rng(0))
    assert not hasattr(iter(shared), "get_state") and len(shared.sample(2)) == 2


@pytest.mark.parametrize("kind", ["episodes", "groups"])
def test_a_task_stream_saves_and_restores_its_position(kind):
    from skmeta.tasks import EpisodeSampler as Sampler
    from skmeta.tasks import GroupedTasks

    X, y = make_pool(n_classes=12)
    if kind == "episodes":
        source = Sampler(X, y, n_way=3, n_shot=1, n_query=2, random_state=0)
    else:
        source = GroupedTasks(X, y, y // 3, n_support=1, n_passes=None, random_state=0)
    stream = iter(source)
    for _ in range(7):
        next(stream)
    state = stream.get_state()
    expected = [next(stream) for _ in range(5)]
    restored = iter(source)
    restored.set_state(state)
    for want, got in zip(expected, (next(restored) for _ in range(5))):
        np.testing.assert_array_equal(want.X_support, got.X_support)
        np.testing.assert_array_equal(want.y_query, got.y_query)


def test_checkpoint_history_round_trips_as_columns():
    from skmeta.base import _history_columns, _history_rows

    history = [
        {"iteration": 1, "loss": 0.5, "time": 0.1},
        {"iteration": 2, "loss": 0.25, "time": 0.1, "val_score": 0.75, "meta_lr": 1e-3},
    ]
    columns = _history_columns(history)
    assert isinstance(columns["table"], torch.Tensor)
    restored = _history_rows(columns)
    assert restored == history and isinstance(restored[1]["iteration"], int)
    assert _history_rows(_history_columns([])) == []
    odd = [{"iteration": 1, "note": "text"}]  # anything but numbers stays a list
    assert _history_columns(odd) is odd and _history_rows(odd) is odd


def test_tasks_are_split_by_the_estimators_kind_not_by_the_labels_dtype(monkeypatch):
    """A classifier's float labels are classes (n_shot per class in the support set); a
    regressor's integer targets are values (never stratified), with groups and pairs."""
    from skmeta import BlackBoxRegressor
    from skmeta.evaluation import episodic_scorer

    seen = []
    original = ProtoNetClassifier._prepare

    def spy(self, task, device):
        seen.append(task)
        return original(self, task, device)

    monkeypatch.setattr(ProtoNetClassifier, "_prepare", spy)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    y = np.tile(np.repeat([0.0, 1.0, 2.0], 5), 4)  # float class labels, 4 groups of 15
    groups = np.repeat(np.arange(4), 15)
    est = ProtoNetClassifier(n_shot=2, n_query=3, n_meta_iterations=3, random_state=0)
    est.meta_fit(X, y, groups)
    est.meta_fit([(X[groups == g], y[groups == g]) for g in range(4)])
    assert len(seen) == 6
    for task in seen:
        assert sorted(task.y_support.tolist()) == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]
    scorer = episodic_scorer(n_support=2)
    assert 0.0 <= scorer(est, X, y, groups=groups) <= 1.0

    X_r = rng.normal(size=(80, 3))
    y_r = np.round(X_r @ [10.0, 20.0, 30.0]).astype(int)  # integer regression targets
    g_r = np.repeat(np.arange(4), 20)
    reg = BlackBoxRegressor(n_meta_iterations=3, random_state=0).meta_fit(X_r, y_r, g_r)
    assert reg.n_meta_iter_ == 3
    reg.meta_fit([(X_r[g_r == g], y_r[g_r == g]) for g in range(4)])
    assert episodic_scorer(n_support=5)(reg, X_r, y_r, groups=g_r) < 0.0


def test_an_endless_validation_sampler_gives_its_first_tasks(pool):
    X, y = pool
    validation = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=2, random_state=1)
    est = ProtoNetClassifier(n_query=5, n_meta_iterations=2, validation_interval=1)
    est.set_params(temperature="fitted", random_state=0)
    est.meta_fit(X, y, validation_tasks=validation)
    assert [r["iteration"] for r in est.meta_history_ if "val_score" in r] == [1, 2]
    assert est.fit(*_five_way(X, y)).temperature_ > 0
