"""MetaSearch: Optuna search over task distributions, pruning, storage, workers, warm start."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from sklearn.base import clone
from sklearn.datasets import make_blobs

from skmeta import MAMLRegressor, ProtoNetClassifier
from skmeta.datasets import LinearTasks
from skmeta.search import (
    MetaSearch,
    WarmStart,
    open_storage,
    performance_regret,
    task_meta_features,
)
from skmeta.tasks import EpisodeSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def blob_tasks(n_val=10):
    """5-way 1-shot episodes on blobs hidden among noise features: learning pays."""
    X, y = make_blobs(900, n_features=4, centers=30, cluster_std=1.5, random_state=0)
    noise = np.random.default_rng(0).normal(scale=4.0, size=(X.shape[0], 12))
    X = np.hstack([X, noise])
    train = EpisodeSampler(X[y < 20], y[y < 20], n_way=5, n_shot=1, n_query=5, random_state=0)
    val = EpisodeSampler(
        X[y >= 20], y[y >= 20], n_way=5, n_shot=1, n_query=5, n_episodes=n_val, random_state=1
    )
    return train, val


def protonet(**params):
    base = dict(backbone="mlp", embed_dim=8, hidden_layer_sizes=(16,), n_meta_iterations=20)
    return ProtoNetClassifier(**{**base, **params, "random_state": 0})


def maml_linear(**params):
    base = dict(hidden_layer_sizes=(), n_meta_iterations=30, meta_batch_size=5, meta_lr=0.01)
    return MAMLRegressor(**{**base, **params, "random_state": 0})


# --------------------------------------------------------------------------- basics
def test_snippet_from_the_issue_runs_with_a_sqlite_storage(tmp_path):
    train, val = blob_tasks()
    search = MetaSearch(
        protonet(),
        param_distributions={
            "embed_dim": IntDistribution(4, 16, log=True),
            "meta_lr": FloatDistribution(1e-4, 1e-2, log=True),
        },
        n_trials=4,
        storage=f"sqlite:///{tmp_path / 'search.db'}",
        study_name="blobs-5w1s",
        random_state=0,
    )
    search.fit(train, validation_tasks=val)
    assert search.n_trials_ == 4
    assert set(search.best_params_) == {"embed_dim", "meta_lr"}
    assert search.best_score_ == pytest.approx(max(search.cv_results_["mean_test_score"]))
    assert hasattr(search.best_estimator_, "meta_params_")
    for name, value in search.best_params_.items():
        assert search.best_estimator_.get_params()[name] == value
    # The refitted estimator adapts and predicts as any skmeta estimator does.
    task = next(iter(val))
    assert search.best_estimator_.fit(*task.support).predict(task.X_query).shape == (25,)
    # cv_results_ in the GridSearchCV layout, with a pandas view.
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(search.cv_results_)
    assert len(table) == 4
    assert {"param_embed_dim", "mean_test_score", "ci95_test_score", "rank_test_score"} <= set(
        table.columns
    )
    assert sorted(table["rank_test_score"]) == [1, 2, 3, 4]
    full = ~table["pruned"]
    assert full.any() and (table.loc[full, "n_test_tasks"] == 10).all()
    assert (table.loc[~full, "n_test_tasks"] < 10).all()
    assert len(search.trials_dataframe()) == 4
    # The study lives in the file: a reader (e.g. optuna-dashboard) sees all trials.
    again = optuna.load_study(
        study_name="blobs-5w1s", storage=f"sqlite:///{tmp_path / 'search.db'}"
    )
    assert len(again.trials) == 4
    assert "skmeta:meta_features" in again.user_attrs
    # Resuming that study with another space: warned (the best may be an old trial).
    other = clone(search).set_params(param_distributions={"meta_lr": (1e-4, 1e-2)}, refit=False)
    with pytest.warns(UserWarning, match="holds trials over the parameters"):
        other.fit(train, validation_tasks=val)


def test_plain_dict_shorthand_and_clone():
    search = MetaSearch(
        protonet(),
        {"embed_dim": [4, 8], "meta_lr": (1e-4, 1e-2, "log"), "n_meta_iterations": (5, 10)},
        n_trials=3,
        random_state=0,
    )
    assert clone(search).get_params()["n_trials"] == 3
    train, val = blob_tasks(n_val=4)
    search.fit(train, validation_tasks=val)
    dists = search.study_.trials[0].distributions
    assert isinstance(dists["embed_dim"], CategoricalDistribution)
    assert isinstance(dists["meta_lr"], FloatDistribution) and dists["meta_lr"].log
    assert isinstance(dists["n_meta_iterations"], IntDistribution)


def test_seeded_search_is_reproducible():
    train, val = blob_tasks(n_val=4)

    def run():
        s = MetaSearch(protonet(), {"meta_lr": (1e-4, 1e-2, "log")}, n_trials=3, random_state=3)
        return s.fit(train, validation_tasks=val).cv_results_["mean_test_score"]

    np.testing.assert_allclose(run(), run())


def test_regressor_is_scored_by_negative_mse_and_custom_scoring():
    train = LinearTasks(n_features=3, random_state=0)
    val = LinearTasks(n_features=3, n_tasks=6, random_state=1)
    search = MetaSearch(maml_linear(), {"inner_lr": (1e-3, 0.3, "log")}, n_trials=2)
    search.fit(train, validation_tasks=val)
    assert search.best_score_ < 0
    r2 = MetaSearch(maml_linear(), {"inner_lr": (1e-3, 0.3, "log")}, n_trials=2, scoring="r2")
    assert r2.fit(train, validation_tasks=val).best_score_ <= 1.0


def test_visual_output_through_optuna_visualization():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    train, val = blob_tasks(n_val=4)
    search = MetaSearch(
        protonet(), {"meta_lr": (1e-4, 1e-2, "log"), "embed_dim": [4, 8]}, n_trials=4
    )
    search.fit(train, validation_tasks=val)
    ax = search.plot_optimization_history()
    assert len(ax.get_lines()) + len(ax.collections) > 0
    assert search.plot_param_importances() is not None


# --------------------------------------------------------------------------- pruning
def test_wilcoxon_pruner_stops_a_bad_configuration_after_few_tasks():
    train, val = blob_tasks(n_val=40)
    search = MetaSearch(
        protonet(),
        {"n_meta_iterations": [60, 1], "meta_lr": [3e-3, 1e-7]},
        n_trials=2,
        random_state=0,
    )
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"n_meta_iterations": 60, "meta_lr": 3e-3})
    study.enqueue_trial({"n_meta_iterations": 1, "meta_lr": 1e-7})
    search.set_params(storage=study._storage, study_name=study.study_name)
    search.fit(train, validation_tasks=val)
    good, bad = search.study_.trials
    assert good.user_attrs["skmeta:n_tasks"] == 40 and not good.user_attrs["skmeta:pruned"]
    assert bad.user_attrs["skmeta:pruned"]
    assert bad.user_attrs["skmeta:n_tasks"] < 40
    # Each task's score was reported with the task's index as its step.
    assert set(good.intermediate_values) == set(range(40))
    assert search.best_params_ == {"n_meta_iterations": 60, "meta_lr": 3e-3}
    assert list(search.cv_results_["pruned"]) == [False, True]
    assert list(search.cv_results_["rank_test_score"]) == [1, 2]


def test_iteration_pruning_with_median_pruner():
    train, val = blob_tasks(n_val=6)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    search = MetaSearch(
        protonet(validation_interval=5), {"meta_lr": [3e-3, 1e-7]}, n_trials=2, pruner=pruner
    )
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.enqueue_trial({"meta_lr": 3e-3})
    study.enqueue_trial({"meta_lr": 1e-7})
    search.set_params(storage=study._storage, study_name=study.study_name)
    search.fit(train, validation_tasks=val)
    good, bad = search.study_.trials
    assert good.state == TrialState.COMPLETE
    assert set(good.intermediate_values) == {5, 10, 15, 20}  # meta-iterations
    assert bad.state == TrialState.PRUNED
    assert max(bad.intermediate_values) < 20


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "space, message",
    [
        ({"learning_rate": (1e-4, 1e-2)}, "has no parameter 'learning_rate'"),
        ({"n_way": FloatDistribution(2.0, 10.0)}, "does not fit the parameter"),
        ({"meta_lr": (-1.0, 1.0)}, "does not fit the parameter"),
        ({"distance": ["euclidean", "manhattan"]}, "does not fit the parameter"),
        ({"meta_lr": (1e-2, 1e-4)}, "low < high"),
        (
            {"meta_lr": (0, 0.1, "log")},
            r"param_distributions\['meta_lr'\].*log range needs low > 0",
        ),
        ({"meta_lr": "1e-3"}, "is not a distribution"),
        ({}, "non-empty dict"),
    ],
)
def test_bad_search_space_fails_before_any_trial(space, message, tmp_path):
    train, val = blob_tasks(n_val=2)
    db = tmp_path / "never.db"
    search = MetaSearch(protonet(), space, n_trials=2, storage=db)
    with pytest.raises((ValueError, TypeError), match=message):
        search.fit(train, validation_tasks=val)
    assert not db.exists()


def test_storage_that_cannot_be_opened():
    train, val = blob_tasks(n_val=2)
    for storage in ("sqlite:////no/such/dir/search.db", "nosuchdb://x"):
        search = MetaSearch(protonet(), {"meta_lr": (1e-4, 1e-2)}, storage=storage)
        with pytest.raises(ValueError, match="Could not open the Optuna storage"):
            search.fit(train, validation_tasks=val)


def test_workers_opening_a_new_storage_together_all_succeed(tmp_path):
    # Workers started at once race to create the tables of a fresh SQLite file; the losers
    # see "table ... already exists" and must retry instead of failing (a CI run once did).
    import threading

    for rep in range(5):
        url = f"sqlite:///{tmp_path / f'race{rep}.db'}"
        barrier = threading.Barrier(4)
        errors = []

        def open_it(url=url, barrier=barrier, errors=errors):
            barrier.wait()
            try:
                open_storage(url, heartbeat_interval=None)
            except Exception as exc:  # noqa: BLE001 - the test reports whatever failed
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert optuna.get_all_study_summaries(open_storage(url, None)) == []


def test_empty_or_missing_tasks():
    train, val = blob_tasks(n_val=2)
    search = MetaSearch(protonet(), {"meta_lr": (1e-4, 1e-2)}, n_trials=1)
    with pytest.raises(ValueError, match="empty collection of training tasks"):
        search.fit([], validation_tasks=val)
    with pytest.raises(ValueError, match="validation_tasks is empty"):
        search.fit(train, validation_tasks=[])
    with pytest.raises(ValueError, match="pass validation_tasks"):
        search.fit(train)
    with pytest.raises(TypeError, match="re-iterable"):
        search.fit(iter(list(val)), validation_tasks=val)
    with pytest.raises(TypeError, match="meta_fit, fit and predict"):
        MetaSearch(clone, {"a": [1]}).fit(train, validation_tasks=val)


def test_a_classification_scorer_for_a_regressor_fails_before_any_trial():
    search = MetaSearch(maml_linear(), {"inner_lr": (0.01, 0.1)}, scoring="accuracy")
    with pytest.raises(ValueError, match="scoring='accuracy' scores class predictions"):
        search.fit(LinearTasks(random_state=0), validation_tasks=LinearTasks(random_state=1))
    assert not hasattr(search, "study_")


def test_wilcoxon_cannot_prune_on_iterations():
    train, val = blob_tasks(n_val=2)
    search = MetaSearch(protonet(), {"meta_lr": (1e-4, 1e-2)}, prune_on="iterations")
    with pytest.raises(ValueError, match="cannot prune across meta-training"):
        search.fit(train, validation_tasks=val)


def test_error_score_keeps_the_search_going():
    train, val = blob_tasks(n_val=2)
    import torch

    bad = torch.nn.Linear(3, 4)  # the episodes have 16 features
    search = MetaSearch(
        protonet(), {"backbone": ["mlp", bad]}, n_trials=4, error_score=np.nan, random_state=0
    )
    with pytest.warns(UserWarning):
        search.fit(train, validation_tasks=val)
    states = {t.state for t in search.study_.trials}
    assert TrialState.COMPLETE in states
    assert search.best_params_["backbone"] == "mlp"
    assert len(search.study_.trials) == 4  # failures count towards n_trials


def test_a_numeric_error_score_scores_failed_trials():
    train, val = blob_tasks(n_val=2)
    import torch

    bad = torch.nn.Linear(3, 4)  # the episodes have 16 features
    search = MetaSearch(
        protonet(), {"backbone": ["mlp", bad]}, n_trials=6, error_score=-1.0, random_state=0
    )
    with pytest.warns(UserWarning, match="scores error_score=-1.0"):
        search.fit(train, validation_tasks=val)
    trials = search.study_.trials
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials)
    failed = [t for t in trials if "skmeta:error" in t.user_attrs]
    assert failed and all(t.value == -1.0 for t in failed)
    assert "does not take the examples" in failed[0].user_attrs["skmeta:error"]
    assert search.best_params_["backbone"] == "mlp"
    errors = search.cv_results_["error"]
    assert sum(e is not None for e in errors) == len(failed)
    worst = search.cv_results_["rank_test_score"][[e is not None for e in errors]]
    assert worst.min() > len(trials) - len(failed)  # ranked after every scored trial


def test_a_nan_error_score_keeps_failed_trials_in_the_results():
    # As scikit-learn's searches: a failed fit is a row of cv_results_ and counts.
    train, val = blob_tasks(n_val=2)
    import torch

    bad = torch.nn.Linear(3, 4)  # the episodes have 16 features
    search = MetaSearch(
        protonet(),
        {"backbone": ["mlp", bad]},
        n_trials=6,
        error_score=float("nan"),
        random_state=0,
    )
    with pytest.warns(UserWarning, match="scores error_score=nan"):
        search.fit(train, validation_tasks=val)
    failed = [t for t in search.study_.trials if t.state == TrialState.FAIL]
    assert failed and search.n_trials_ == 6 == len(search.cv_results_["params"])
    errors = search.cv_results_["error"]
    assert sum(e is not None for e in errors) == len(failed)
    assert np.isnan(search.cv_results_["mean_test_score"][[e is not None for e in errors]]).all()
    assert search.best_params_["backbone"] == "mlp"


def test_tuple_and_module_choices_survive_a_storage_and_a_resume(tmp_path):
    # A storage keeps None, bool, int, float and str: other choices go by label and come
    # back as given (a tuple was a list, and resuming failed inside Optuna).
    import warnings

    import torch

    train, val = blob_tasks(n_val=2)
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    module = torch.nn.Linear(16, 8)
    space = {"hidden_layer_sizes": [(8,), (16, 8)], "backbone": ["mlp", module]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Optuna warning about the choices
        first = MetaSearch(
            protonet(), space, n_trials=2, storage=storage, study_name="s", random_state=0
        ).fit(train, validation_tasks=val)
        again = MetaSearch(
            protonet(), space, n_trials=4, storage=storage, study_name="s", random_state=0
        ).fit(train, validation_tasks=val)
    assert again.n_trials_ == 4
    for search in (first, again):
        assert search.best_params_["hidden_layer_sizes"] in [(8,), (16, 8)]
        assert isinstance(search.best_params_["hidden_layer_sizes"], tuple)
        assert search.best_params_["backbone"] in ("mlp", module)
        assert all(isinstance(p["hidden_layer_sizes"], tuple) for p in search.cv_results_["params"])
    assert again.best_estimator_.hidden_layer_sizes == again.best_params_["hidden_layer_sizes"]


def test_a_search_whose_every_trial_fails_ends():
    train, val = blob_tasks(n_val=2)
    import torch

    search = MetaSearch(
        protonet(backbone=torch.nn.Linear(3, 4)),
        {"meta_lr": (1e-4, 1e-2)},
        n_trials=3,
        error_score=0.0,
        random_state=0,
    )
    with pytest.warns(UserWarning), pytest.raises(RuntimeError, match="every trial failed"):
        search.fit(train, validation_tasks=val)
    assert len(search.study_.trials) == 3


# --------------------------------------------------------------------------- resume, workers
WORKER = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import optuna
    from sklearn.datasets import make_blobs
    from skmeta import ProtoNetClassifier
    from skmeta.search import MetaSearch
    from skmeta.tasks import EpisodeSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage, name, n_trials, iters = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    X, y = make_blobs(900, n_features=16, centers=30, random_state=0)
    train = EpisodeSampler(X[y < 20], y[y < 20], n_way=5, n_shot=1, n_query=5, random_state=0)
    val = EpisodeSampler(X[y >= 20], y[y >= 20], n_way=5, n_shot=1, n_query=5,
                         n_episodes=5, random_state=1)
    est = ProtoNetClassifier(backbone="mlp", embed_dim=8, hidden_layer_sizes=(16,),
                             n_meta_iterations=iters, random_state=0)
    search = MetaSearch(est, {"meta_lr": (1e-4, 1e-2, "log")}, n_trials=n_trials,
                        storage=storage, study_name=name, heartbeat_interval=1, refit=False)
    search.fit(train, validation_tasks=val)
    print(json.dumps({"pid": os.getpid(), "n_trials": search.n_trials_}))
    """
)


def _worker(tmp_path, storage, name, n_trials, iters):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, str(script), str(storage), name, str(n_trials), str(iters)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _trials(storage, name):
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return []
    return study.get_trials(deepcopy=False)


def test_killed_worker_resumes_without_losing_finished_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'search.db'}"
    # 400 meta-iterations a trial: long enough that the 0.2 s polls below see a trial
    # running after two complete, even on a loaded machine (150 was missed once).
    proc = _worker(tmp_path, url, "resume", 6, 400)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        trials = _trials(url, "resume")
        states = [t.state for t in trials]
        # Kill mid-trial, once the running trial's parameters are stored: between its
        # creation and the sampler's suggestion a trial has none to retry with.
        running = [t for t in trials if t.state == TrialState.RUNNING and t.params]
        if states.count(TrialState.COMPLETE) >= 2 and running:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the worker did not finish two trials in time")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = optuna.load_study(study_name="resume", storage=url).trials
    finished = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}
    killed = [t for t in before if t.state == TrialState.RUNNING]
    assert len(finished) >= 2 and len(killed) == 1

    time.sleep(2.5)  # two heartbeat intervals: the killed trial is now stale
    X, y = make_blobs(900, n_features=16, centers=30, random_state=0)
    train = EpisodeSampler(X[y < 20], y[y < 20], n_way=5, n_shot=1, n_query=5, random_state=0)
    val = EpisodeSampler(
        X[y >= 20], y[y >= 20], n_way=5, n_shot=1, n_query=5, n_episodes=5, random_state=1
    )
    est = protonet(embed_dim=8, n_meta_iterations=20)
    search = MetaSearch(
        est,
        {"meta_lr": (1e-4, 1e-2, "log")},
        n_trials=6,
        storage=url,
        study_name="resume",
        heartbeat_interval=1,
        refit=False,
    )
    search.fit(train, validation_tasks=val)
    after = search.study_.trials
    assert sum(t.state == TrialState.COMPLETE for t in after) == 6
    for number, value in finished.items():  # no finished trial lost or redone
        assert after[number].state == TrialState.COMPLETE and after[number].value == value
    assert after[killed[0].number].state == TrialState.FAIL
    retried = [t for t in after if t.system_attrs.get("failed_trial") == killed[0].number]
    assert len(retried) == 1 and retried[0].params == killed[0].params
    assert search.n_trials_ == 6


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_share_one_study(tmp_path, kind):
    storage = f"sqlite:///{tmp_path / 'w.db'}" if kind == "sqlite" else tmp_path / "w.log"
    procs = [_worker(tmp_path, storage, "shared", 6, 10) for _ in range(2)]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    study = optuna.load_study(study_name="shared", storage=open_storage(storage))
    trials = study.trials
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))  # no trial recorded twice
    states = [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert all(t.state == TrialState.COMPLETE for t in trials), states  # none lost half-way
    assert 6 <= len(trials) <= 7  # at most one extra: both asked for the last one at once
    workers = {t.user_attrs["skmeta:worker"] for t in trials}
    assert len(workers) == 2  # both did work
    # A worker stops once no trial is missing; the last one sees the study complete.
    assert max(o["n_trials"] for o in outs) == len(trials)


# --------------------------------------------------------------------------- warm start
def _family_search(scale, n_trials, seed, warm_start=None, storage=None, name=None):
    train = LinearTasks(input_scale=scale, random_state=seed)
    val = LinearTasks(input_scale=scale, n_tasks=10, random_state=seed + 1000)
    search = MetaSearch(
        maml_linear(),
        {"inner_lr": (1e-4, 3.0, "log")},
        n_trials=n_trials,
        pruner=None,
        storage=storage,
        study_name=name,
        warm_start=warm_start,
        refit=False,
        random_state=seed,
    )
    return search.fit(train, validation_tasks=val)


def test_meta_features_tell_families_apart():
    small = task_meta_features(LinearTasks(input_scale=0.5, random_state=0))
    large = task_meta_features(LinearTasks(input_scale=4.0, random_state=0))
    assert large["x_std"] > 6 * small["x_std"]
    assert small["classification"] == 0.0
    X, y = make_blobs(200, centers=10, random_state=0)
    feats = task_meta_features(X, y)
    assert feats["classification"] == 1.0 and feats["log_n_classes"] == pytest.approx(np.log(10))


def test_warm_start_from_the_most_similar_family(tmp_path):
    storage = open_storage(tmp_path / "earlier.db")
    for scale in (0.5, 4.0):
        _family_search(scale, 6, 0, storage=storage, name=f"scale-{scale}")
    ws = WarmStart(["scale-0.5", "scale-4.0"], n_configs=2, n_similar=1)
    search = _family_search(3.0, 3, 1, warm_start=ws, storage=storage, name="new")
    assert ws.distances_["scale-4.0"] < ws.distances_["scale-0.5"]
    earlier = optuna.load_study(study_name="scale-4.0", storage=storage)
    best_earlier = earlier.best_trial.params["inner_lr"]
    first = search.study_.trials[0]
    assert first.params["inner_lr"] == best_earlier
    assert first.user_attrs["skmeta:warm_start"]
    assert search.warm_start_configurations_[0] == {"inner_lr": best_earlier}

    space = {"inner_lr": FloatDistribution(1e-4, 3.0, log=True)}
    studies = [optuna.load_study(study_name=n, storage=storage) for n in ("scale-0.5", "scale-4.0")]
    portfolio = WarmStart(studies, strategy="portfolio", n_configs=2, n_candidates=6)
    configs = portfolio.configurations(space)
    assert len(configs) == 2
    candidates = [t.params for s in studies for t in s.trials]
    single = performance_regret(studies, space, candidates).mean(axis=1)
    chosen = performance_regret(studies, space, configs)
    # The first pick is the best single configuration; the pair covers the tasks better.
    assert chosen[0].mean() == pytest.approx(single.min())
    assert chosen.min(axis=0).mean() < single.min()


def test_warm_start_beats_cold_start_on_the_designed_family(tmp_path):
    """Median, over seeds, of the best score after 3 trials on a new family (scale 2)."""
    storage = open_storage(tmp_path / "earlier.db")
    earlier = []
    for scale in (0.5, 1.0, 4.0):
        _family_search(scale, 8, 0, storage=storage, name=f"scale-{scale}")
        earlier.append(f"scale-{scale}")
    warm, cold = [], []
    for seed in range(3):
        ws = WarmStart(earlier, n_configs=2, n_similar=2, storage=storage)
        warm.append(_family_search(2.0, 3, seed + 1, warm_start=ws).best_score_)
        cold.append(_family_search(2.0, 3, seed + 1).best_score_)
    assert np.median(warm) > np.median(cold)


def test_warm_start_input_errors(tmp_path):
    train, val = blob_tasks(n_val=2)
    search = MetaSearch(protonet(), {"meta_lr": (1e-4, 1e-2)}, warm_start=["nope"], n_trials=1)
    with pytest.raises(ValueError, match="no storage to load it from"):
        search.fit(train, validation_tasks=val)
    search.set_params(warm_start="nope")
    with pytest.raises(TypeError, match="warm_start takes"):
        search.fit(train, validation_tasks=val)
    with pytest.raises(ValueError, match="strategy"):
        WarmStart([optuna.create_study()], strategy="best").configurations({})
    # A file path, as MetaSearch takes it; an unknown name lists the storage's studies.
    path = tmp_path / "earlier.db"
    optuna.create_study(study_name="known", storage=open_storage(path))
    assert WarmStart(["known"], storage=str(path)).load()[0].study_name == "known"
    with pytest.raises(
        ValueError,
        match=r"No study named 'nope' in the storage '.*earlier\.db'; it holds \['known'\]",
    ):
        WarmStart(["nope"], storage=path).load()


def test_every_meta_trained_learner_reports_progress_to_callbacks():
    """prune_on='iterations' needs meta_fit(callbacks=...); overrides must keep it."""
    import inspect

    import skmeta
    from skmeta.base import MetaEstimatorMixin

    learners = [
        getattr(skmeta, name)
        for name in skmeta.__all__
        if isinstance(getattr(skmeta, name), type)
        and issubclass(getattr(skmeta, name), MetaEstimatorMixin)
    ]
    assert len(learners) >= 10
    for cls in learners:
        assert "callbacks" in inspect.signature(cls.meta_fit).parameters, cls.__name__
    records = []
    est = protonet(n_meta_iterations=3)
    est.meta_fit(blob_tasks()[0], callbacks=[lambda e, r: records.append(r["iteration"])])
    assert records == [1, 2, 3]


def test_randomized_search_cv_over_meta_parameters_in_parallel():
    """The sklearn path: tasks as groups, joblib workers; same result as one process."""
    import sklearn
    from scipy.stats import loguniform
    from sklearn.model_selection import GroupKFold, RandomizedSearchCV

    from skmeta.evaluation import episodic_scorer

    X, y = make_blobs(400, n_features=8, centers=20, random_state=0)
    groups = y // 5  # four tasks of five classes each

    def run(n_jobs):
        with sklearn.config_context(enable_metadata_routing=True):
            est = protonet(n_query=5, n_meta_iterations=10).set_fit_request(groups=True)
            search = RandomizedSearchCV(
                est,
                {"meta_lr": loguniform(1e-4, 1e-2)},
                n_iter=2,
                cv=GroupKFold(n_splits=2),
                scoring=episodic_scorer(n_support=1),
                n_jobs=n_jobs,
                random_state=0,
            )
            return search.fit(X, y, groups=groups).cv_results_["mean_test_score"]

    np.testing.assert_allclose(run(2), run(1))
