"""MultiTaskRegressor and MultiTaskClassifier: what a user relies on."""

import pickle

import numpy as np
import pytest
import sklearn
import torch
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skmeta.evaluation import episodic_scorer
from skmeta.multitask import (
    MultiTaskClassifier,
    MultiTaskNetwork,
    MultiTaskRegressor,
    TaskWeighting,
    make_task_family,
    plot_transfer_report,
    transfer_report,
)
from skmeta.tasks import Task, tasks_from_groups

CONDITIONINGS = ["concat", "additive", "multihead", "multiplicative", "independent", "shared"]
FAST = dict(hidden_layer_sizes=(16,), batch_size=32, max_epochs=40, learning_rate=1e-2)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small networks train faster on one thread (and leave the other core alone)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def halves(groups, n_per_task):
    """Train mask: the first half of each task's rows."""
    n_tasks = np.unique(groups).shape[0]
    return np.tile(np.r_[np.ones(n_per_task // 2, bool), np.zeros(n_per_task // 2, bool)], n_tasks)


@pytest.fixture(scope="module")
def offsets():
    """Tasks differing by an offset: 6 tasks, 40 rows each."""
    X, y, g = make_task_family("bias", n_tasks=6, n_samples_per_task=40, random_state=0)
    return X, y, g, halves(g, 40)


@pytest.mark.parametrize("conditioning", CONDITIONINGS[:5])
def test_every_conditioning_learns_the_task_offsets(conditioning, offsets):
    X, y, g, tr = offsets
    est = MultiTaskRegressor(conditioning=conditioning, **FAST, random_state=0)
    est.fit(X[tr], y[tr], task_ids=g[tr])
    score = r2_score(y[~tr], est.predict(X[~tr], task_ids=g[~tr]))
    pooled = MultiTaskRegressor(conditioning="shared", **FAST, random_state=0)
    pooled_score = r2_score(y[~tr], pooled.fit(X[tr], y[tr]).predict(X[~tr]))
    assert score > pooled_score + 0.25, (score, pooled_score)


def test_known_answers_additive_for_offsets_multiplicative_for_gains():
    params = dict(
        conditioning_layers=[1],
        hidden_layer_sizes=(32,),
        batch_size=32,
        max_epochs=150,
        learning_rate=1e-2,
        early_stopping=True,
        validation_fraction=0.2,
    )
    scores = {}
    for family, n in [("bias", 30), ("gating", 40)]:
        X, y, g = make_task_family(family, n_tasks=8, n_samples_per_task=2 * n, random_state=0)
        tr = halves(g, 2 * n)
        for c in ["additive", "multiplicative"]:
            est = MultiTaskRegressor(conditioning=c, **params, random_state=0)
            est.fit(X[tr], y[tr], task_ids=g[tr])
            scores[family, c] = r2_score(y[~tr], est.predict(X[~tr], task_ids=g[~tr]))
    assert scores["bias", "additive"] > scores["bias", "multiplicative"] + 0.05, scores
    assert scores["gating", "multiplicative"] > scores["gating", "additive"] + 0.05, scores


def test_concat_and_additive_are_the_same_model():
    """W [h; z] + b = W_h h + b + W_z z: copy W_z into E and the outputs agree."""
    torch.manual_seed(0)
    concat = MultiTaskNetwork(5, 1, (8,), "concat", (0, 1), n_tasks=4)
    additive = MultiTaskNetwork(5, 1, (8,), "additive", (0, 1), n_tasks=4)
    with torch.no_grad():
        for lc, la in zip(concat.layers, additive.layers):
            la.weight.copy_(lc.weight[:, : lc.n_in])
            la.bias.copy_(lc.bias)
            la.task_embedding.copy_(lc.weight[:, lc.n_in :].t())
    X, task = torch.randn(20, 5), torch.randint(0, 4, (20,))
    torch.testing.assert_close(concat(X, task), additive(X, task))


def test_classifier_learns_tasks_that_read_different_features():
    rng = np.random.default_rng(0)
    X, g = rng.normal(size=(400, 3)), np.repeat([0, 1, 2, 3], 100)
    y = np.where(X[np.arange(400), g % 3] > 0, "yes", "no")
    tr = halves(g, 100)
    clf = MultiTaskClassifier(conditioning="multihead", **FAST, random_state=0)
    clf.fit(X[tr], y[tr], task_ids=g[tr])
    assert clf.score(X[~tr], y[~tr], task_ids=g[~tr]) > 0.85
    shared = MultiTaskClassifier(conditioning="shared", **FAST, random_state=0)
    assert shared.fit(X[tr], y[tr]).score(X[~tr], y[~tr]) < 0.75
    proba = clf.predict_proba(X[:5], task_ids=g[:5])
    assert clf.classes_.tolist() == ["no", "yes"]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    log_proba = clf.predict_log_proba(X[:5], task_ids=g[:5])
    np.testing.assert_allclose(np.exp(log_proba), proba, atol=1e-12)


@pytest.mark.parametrize("conditioning", ["additive", "multihead", "independent"])
def test_adapting_to_a_new_task_learns_only_its_own_parameters(conditioning, offsets):
    X, y, g, tr = offsets
    est = MultiTaskRegressor(conditioning=conditioning, **FAST, random_state=0)
    est.fit(X[tr], y[tr], task_ids=g[tr])
    before = {k: v.clone() for k, v in est.module_.state_dict().items()}
    known = est.predict(X[:10], task_ids=g[:10])
    X_new, y_new, _ = make_task_family("bias", n_tasks=1, n_samples_per_task=60, random_state=0)
    y_new = y_new + 3.0  # a new offset, never seen
    est.fit(X_new[:20], y_new[:20])
    after = est.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # the prior is untouched
    np.testing.assert_array_equal(known, est.predict(X[:10], task_ids=g[:10]))
    adapted = r2_score(y_new[20:], est.predict(X_new[20:]))
    unadapted = MultiTaskRegressor(
        conditioning=conditioning, **FAST, n_adapt_steps=0, random_state=0
    )
    unadapted.fit(X[tr], y[tr], task_ids=g[tr]).fit(X_new[:20], y_new[:20])
    assert adapted > r2_score(y_new[20:], unadapted.predict(X_new[20:])) + 0.2
    # re-entrant: adapting again to the same data gives the same model
    again = est.fit(X_new[:20], y_new[:20]).predict(X_new[20:])
    np.testing.assert_allclose(again, est.predict(X_new[20:]), rtol=1e-6)


def test_adaptation_descriptor_is_the_only_thing_learned():
    X, y, g = make_task_family("bias", n_tasks=4, n_samples_per_task=20, random_state=1)
    est = MultiTaskRegressor(conditioning="additive", **FAST, random_state=0).fit(X, y, task_ids=g)
    est.fit(X[:8], y[:8] + 1.0)
    assert set(est.adaptation_) == {"descriptor"}
    assert est.adaptation_["descriptor"].shape == (4,)


def test_unknown_task_ids_get_a_clear_error(offsets):
    X, y, g, tr = offsets
    est = MultiTaskRegressor(**FAST, random_state=0).fit(X[tr], y[tr], task_ids=g[tr])
    with pytest.raises(ValueError, match=r"Unknown task ids: 7, 9.*fit\(X_new, y_new\)"):
        est.predict(X[:3], task_ids=[0, 7, 9])
    with pytest.raises(ValueError, match="pass task_ids"):
        est.predict(X[:3])
    single = MultiTaskRegressor(**FAST, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="fitted without task ids"):
        single.predict(X[:3], task_ids=[0, 0, 0])


def test_string_task_ids_and_meta_fit_forms_agree(offsets):
    X, y, g, tr = offsets
    names = np.array(list("abcdef"))[g]
    a = MultiTaskRegressor(**FAST, random_state=0).fit(X, y, task_ids=names)
    b = MultiTaskRegressor(**FAST, random_state=0).meta_fit(X, y, names)
    np.testing.assert_array_equal(a.predict(X, task_ids=names), b.predict(X, task_ids=names))
    assert a.task_ids_.tolist() == list("abcdef")
    pairs = [(X[g == t], y[g == t]) for t in range(6)]
    c = MultiTaskRegressor(**FAST, random_state=0).meta_fit(pairs)
    assert c.task_ids_.tolist() == list(range(6))
    tasks = [Task(X_, y_[:, None][:, 0]) for X_, y_ in pairs]
    assert MultiTaskRegressor(**FAST, random_state=0).meta_fit(tasks).task_ids_.shape == (6,)


def test_balanced_sampling_serves_a_small_task():
    """A task with 10 rows next to one with 400: balanced sampling fits it better."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(420, 2))
    g = np.r_[np.zeros(400, int), np.ones(20, int)]
    y = np.where(g == 0, X[:, 0], -2.0 * X[:, 1])
    tr = np.r_[np.ones(400, bool), np.ones(10, bool), np.zeros(10, bool)]
    scores = {}
    for sampling in ["proportional", "balanced"]:
        est = MultiTaskRegressor(
            conditioning="multihead",
            task_sampling=sampling,
            hidden_layer_sizes=(16,),
            max_epochs=8,
            random_state=0,
        )
        est.fit(X[tr], y[tr], task_ids=g[tr])
        scores[sampling] = r2_score(y[~tr], est.predict(X[~tr], task_ids=g[~tr]))
    assert scores["balanced"] > scores["proportional"] + 0.1, scores


def test_task_weights_steer_what_the_shared_model_fits():
    """Two contradicting tasks, one shared model: the heavier task wins."""
    rng = np.random.default_rng(0)
    X, g = rng.normal(size=(200, 1)), np.repeat([0, 1], 100)
    y = np.where(g == 0, X[:, 0], -X[:, 0])
    fits = {}
    for name, weights in [("first", {0: 10.0, 1: 0.1}), ("second", {0: 0.1, 1: 10.0})]:
        est = MultiTaskRegressor(
            conditioning="shared", task_weights=weights, **FAST, random_state=0
        ).fit(X, y, task_ids=g)
        fits[name] = est.predict(X[:100], task_ids=g[:100])
    assert np.corrcoef(fits["first"], X[:100, 0])[0, 1] > 0.9
    assert np.corrcoef(fits["second"], X[:100, 0])[0, 1] < -0.9


def test_uncertainty_weights_learn_which_task_is_noisy():
    rng = np.random.default_rng(0)
    X, g = rng.normal(size=(400, 2)), np.repeat([0, 1], 200)
    y = X[:, 0] + np.where(g == 1, 3.0, 0.05) * rng.normal(size=400)
    est = MultiTaskRegressor(
        conditioning="multihead", task_weights="uncertainty", **FAST, random_state=0
    ).fit(X, y, task_ids=g)
    log_var = est.weighting_state_["log_var"]
    assert log_var[1] > log_var[0] + 1.0


def test_pcgrad_and_custom_weightings_train(offsets):
    X, y, g, tr = offsets

    class Halves(TaskWeighting):
        def loss(self, row_losses, tasks, state):
            return 0.5 * row_losses.mean()

    for weights in ["pcgrad", Halves()]:
        est = MultiTaskRegressor(task_weights=weights, **FAST, random_state=0)
        est.fit(X[tr], y[tr], task_ids=g[tr])
        assert r2_score(y[~tr], est.predict(X[~tr], task_ids=g[~tr])) > 0.5


@pytest.mark.parametrize("task_weights", ["equal", "pcgrad"])
@pytest.mark.parametrize("conditioning", ["independent", "concat"])
def test_sharing_penalty_pulls_task_copies_together(conditioning, task_weights, offsets):
    # "concat"'s task-specific parameters are W_z's columns of a weight whose other
    # columns are shared: PCGrad must still give them the penalty's gradient.
    X, y, g, tr = offsets
    spread = {}
    for lam in [0.0, 1.0]:
        est = MultiTaskRegressor(
            conditioning=conditioning,
            task_weights=task_weights,
            sharing_penalty=lam,
            **FAST,
            random_state=0,
        ).fit(X[tr], y[tr], task_ids=g[tr])
        spread[lam] = float(est.module_.sharing_penalty().detach())
    assert spread[1.0] < 0.1 * spread[0.0], spread


def test_descriptor_matrix_and_dict(offsets):
    X, y, g, tr = offsets
    meta = np.eye(6)[:, :4] + 0.1
    est = MultiTaskRegressor(descriptor=meta, **FAST, random_state=0).fit(X, y, task_ids=g)
    assert est.descriptors_.shape == (6, 4)
    as_dict = {t: meta[t] for t in range(6)}
    est2 = MultiTaskRegressor(descriptor=as_dict, **FAST, random_state=0).fit(X, y, task_ids=g)
    np.testing.assert_allclose(est.predict(X, task_ids=g), est2.predict(X, task_ids=g))
    with pytest.raises(ValueError, match=r"one row per task \(6 tasks.*got shape \(5, 4\)"):
        MultiTaskRegressor(descriptor=meta[:5], **FAST).fit(X, y, task_ids=g)
    with pytest.raises(ValueError, match=r"no entry for the tasks \[5\]"):
        MultiTaskRegressor(descriptor={t: meta[t] for t in range(5)}, **FAST).fit(X, y, task_ids=g)


def test_early_stopping_keeps_the_best_epoch(offsets):
    X, y, g, tr = offsets
    est = MultiTaskRegressor(
        early_stopping=True,
        n_iter_no_change=3,
        max_epochs=500,
        hidden_layer_sizes=(16,),
        learning_rate=0.05,
        random_state=0,
    )
    est.fit(X, y, task_ids=g)
    valid = est.history_[:, "valid_loss"]
    assert est.n_epochs_ < 500 and len(valid) == est.n_epochs_
    assert np.argmin(valid) == est.n_epochs_ - 4


def test_pipeline_and_grid_search_route_task_ids(offsets):
    X, y, g, tr = offsets
    X = X * 10.0 + 5.0
    with sklearn.config_context(enable_metadata_routing=True):
        est = MultiTaskRegressor(**FAST, random_state=0).set_fit_request(task_ids=True)
        est = est.set_predict_request(task_ids=True).set_score_request(task_ids=True)
        pipe = make_pipeline(StandardScaler(), est)
        pipe.fit(X[tr], y[tr], task_ids=g[tr])
        assert r2_score(y[~tr], pipe.predict(X[~tr], task_ids=g[~tr])) > 0.5
        # within-task CV: the score sees each held-out row's task
        search = GridSearchCV(
            pipe,
            {"multitaskregressor__conditioning": ["additive", "shared"]},
            cv=KFold(3, shuffle=True, random_state=0),
        )
        search.fit(X, y, task_ids=g)
        assert search.best_params_["multitaskregressor__conditioning"] == "additive"
        # task-level CV: held-out tasks are new tasks, adapted to by the episodic scorer
        search = GridSearchCV(
            pipe,
            {"multitaskregressor__n_adapt_steps": [0, 100]},
            cv=GroupKFold(3),
            scoring=episodic_scorer(n_support=0.5),
        )
        search.fit(X, y, groups=g, task_ids=g)
        assert search.best_params_["multitaskregressor__n_adapt_steps"] == 100


@pytest.mark.parametrize("Est", [MultiTaskRegressor, MultiTaskClassifier])
def test_pickle_round_trip(Est, offsets):
    X, y, g, tr = offsets
    y = y if Est is MultiTaskRegressor else y > np.median(y)
    est = Est(**FAST, random_state=0).fit(X, y, task_ids=g)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict(X, task_ids=g), restored.predict(X, task_ids=g))
    est.fit(X[:10], y[:10])
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict(X), restored.predict(X))
    assert not hasattr(clone(est), "module_")


def test_bad_input_gets_clear_errors(offsets):
    X, y, g, tr = offsets
    est = MultiTaskRegressor(**FAST)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan, y, task_ids=g)
    with pytest.raises(ValueError, match="task_ids has 239 entries, but X has 240 rows"):
        est.fit(X, y, task_ids=g[:-1])
    with pytest.raises(ValueError, match="task_ids mixes types \\(int, str\\)"):
        est.fit(X, y, task_ids=np.array([0, "a"] * (len(g) // 2), dtype=object))
    with pytest.raises(ValueError, match="task_ids contains None"):
        est.fit(X, y, task_ids=np.array([0, None] * (len(g) // 2), dtype=object))
    ragged = {t: [1.0] * (1 + t % 2) for t in np.unique(g).tolist()}
    with pytest.raises(ValueError, match="one common length; got lengths \\[1, 2\\]"):
        est.set_params(descriptor=ragged, conditioning="concat").fit(X, y, task_ids=g)
    est.set_params(descriptor="onehot", conditioning="additive")
    with pytest.raises(ValueError, match="task_ids contains NaN"):
        est.fit(X, y, task_ids=np.where(g == 0, np.nan, g))
    with pytest.raises(ValueError, match="conditioning_layers must list layer indices in 0..1"):
        MultiTaskRegressor(conditioning_layers=[2], **FAST).fit(X, y, task_ids=g)
    with pytest.raises(ValueError, match="conditioning"):
        MultiTaskRegressor(conditioning="film").fit(X, y, task_ids=g)
    with pytest.raises(ValueError, match="meta_fit\\(X, y\\) needs groups"):
        est.meta_fit(X, y)
    with pytest.raises(TypeError, match="finite set of tasks"):
        est.meta_fit(iter([(X, y)]))
    fitted = MultiTaskRegressor(**FAST, random_state=0).fit(X, y, task_ids=g)
    with pytest.raises(ValueError, match="features"):
        fitted.fit(X[:10, :3], y[:10])
    with pytest.raises(ValueError, match="task_weights names tasks \\[42\\], none of which"):
        MultiTaskRegressor(task_weights={42: 1.0}, **FAST).fit(X, y, task_ids=g)
    # a dict covering more tasks than a fold trains on (GroupKFold) is fine
    covering = {t: 1.0 for t in [*np.unique(g).tolist(), 42]}
    MultiTaskRegressor(task_weights=covering, **FAST).fit(X, y, task_ids=g)
    zeros = {t: 0.0 for t in np.unique(g).tolist()}
    with pytest.raises(ValueError, match="every training task weight 0"):
        MultiTaskRegressor(task_weights=zeros, **FAST).fit(X, y, task_ids=g)
    clf = MultiTaskClassifier(**FAST, random_state=0).fit(X, y > 0, task_ids=g)
    with pytest.raises(ValueError, match="does not predict"):
        clf.fit(X[:4], ["cat", "dog", "cat", "dog"])


def test_transfer_report_flags_negative_transfer_on_unrelated_tasks():
    X, y, g = make_task_family("unrelated", n_tasks=4, n_samples_per_task=120, random_state=0)
    tasks = tasks_from_groups(X, y, g, n_support=0.5, random_state=0)
    est = MultiTaskRegressor(
        conditioning="additive",
        conditioning_layers=[1],
        hidden_layer_sizes=(16,),
        max_epochs=60,
        random_state=0,
    )
    report = transfer_report(est, tasks)
    assert report["negative_transfer"].all()
    assert (report["independent"] > report["shared"] + 0.3).all()
    assert report.attrs["n_negative_transfer"] == 4
    assert not hasattr(est, "module_")  # the estimator itself is left alone
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_transfer_report(report)
    assert ax.get_xlabel().startswith("independent")


def test_transfer_report_with_the_groups_ids():
    rng = np.random.default_rng(0)
    X, g = rng.normal(size=(240, 2)), np.repeat([10, 20, 30], 80)
    y = X[:, 0] + g / 10
    tasks = tasks_from_groups(X, y, g, n_support=0.75, random_state=0)
    est = MultiTaskRegressor(
        descriptor={10: [1.0], 20: [2.0], 30: [3.0]},
        conditioning="concat",
        task_weights={10: 1.0, 20: 2.0, 30: 1.0},
        max_epochs=5,
        random_state=0,
    )
    with pytest.raises(ValueError, match=r"descriptor names tasks by id \(\[10, 20, 30\]\)"):
        transfer_report(est, tasks)
    report = transfer_report(est, tasks, task_ids=np.unique(g))
    assert report.index.tolist() == [10, 20, 30]
    plain = transfer_report(est.set_params(descriptor="onehot", task_weights="equal"), tasks)
    renamed = transfer_report(est, tasks, task_ids=np.unique(g))
    np.testing.assert_array_equal(plain["model"].to_numpy(), renamed["model"].to_numpy())
    with pytest.raises(ValueError, match="name each of the 3 tasks once"):
        transfer_report(est, tasks, task_ids=[10, 10, 30])


def test_a_fit_that_raises_leaves_the_estimator_as_it_was():
    rng = np.random.default_rng(0)
    X, t = rng.normal(size=(120, 3)), np.repeat([0, 1, 2], 40)
    labels = np.where(X[:, 0] > 0, "pos", "neg")
    clf = MultiTaskClassifier(max_epochs=5, random_state=0).fit(X, labels, task_ids=t)
    expected = clf.predict_proba(X[:6], task_ids=t[:6])
    with pytest.raises(ValueError, match="conditioning_layers"):
        clf.set_params(conditioning_layers=[9]).fit(X, np.arange(120) % 3, task_ids=t)
    clf.set_params(conditioning_layers=None)

    from skorch.callbacks import Callback

    class Fail(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise RuntimeError("a callback failed")

    with pytest.raises(RuntimeError, match="a callback failed"):
        clf.set_params(callbacks=[("fail", Fail())]).fit(X[:, :2], labels, task_ids=t)
    clf.set_params(callbacks=None)
    assert clf.classes_.tolist() == ["neg", "pos"] and clf.n_features_in_ == 3
    np.testing.assert_array_equal(clf.predict_proba(X[:6], task_ids=t[:6]), expected)
    # Adapted to a new task; a failed adaptation keeps that adaptation too.
    new = clf.fit(X[:10], labels[:10]).predict_proba(X[10:14])
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.full((4, 3), np.nan), labels[:4])
    np.testing.assert_array_equal(clf.predict_proba(X[10:14]), new)


@pytest.mark.parametrize("change", [{"hidden_layer_sizes": (32,)}, {"conditioning": "multihead"}])
def test_adapting_after_an_architecture_change_is_refused(change):
    rng = np.random.default_rng(0)
    X, t = rng.normal(size=(90, 3)), np.repeat([0, 1, 2], 30)
    est = MultiTaskRegressor(hidden_layer_sizes=(8,), max_epochs=3, random_state=0)
    est.fit(X, X[:, 0], task_ids=t)
    name = next(iter(change))
    old = est.get_params()[name]
    est.set_params(**change)
    with pytest.raises(ValueError, match=f"trained jointly with {name}="):
        est.fit(X[:10], X[:10, 0])
    est.set_params(**{name: old}).fit(X[:10], X[:10, 0])  # set back: adapts
    assert est.predict(X[:3]).shape == (3,)
