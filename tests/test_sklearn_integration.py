"""skmeta estimators inside scikit-learn: pipelines and grid searches."""

import numpy as np
import pytest
import sklearn
from conftest import make_pool
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from skmeta import ProtoNetClassifier
from skmeta.evaluation import episodic_scorer, evaluate
from skmeta.tasks import EpisodeSampler, split_tasks


@pytest.fixture
def split_pool():
    X, y = make_pool(n_classes=60)
    return split_tasks(X, y, groups=y, test_size=0.33, random_state=0)


def test_pipeline_with_a_preprocessing_step(split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    task = EpisodeSampler(X_te, y_te, n_way=5, n_shot=3, n_query=5, random_state=0).sample(1)[0]
    pipe = make_pipeline(StandardScaler(), ProtoNetClassifier(random_state=0))
    pipe.fit(task.X_support, task.y_support)
    assert pipe.predict(task.X_query).shape == (25,)
    assert pipe.predict_proba(task.X_query).shape == (25, 5)
    assert 0.0 <= pipe.score(task.X_query, task.y_query) <= 1.0


def test_pipeline_flattening_images_for_a_conv_backbone():
    rng = np.random.default_rng(0)
    X = rng.random((20, 16, 16)).astype(np.float32)
    y = np.repeat(np.arange(5), 4)
    flatten = FunctionTransformer(lambda a: a.reshape(len(a), -1))
    pipe = make_pipeline(flatten, ProtoNetClassifier(backbone="conv4", random_state=0))
    assert pipe.fit(X, y).predict(X).shape == (20,)


def test_grid_search_over_adaptation_parameters_with_a_frozen_prior(split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    meta = ProtoNetClassifier(n_query=5, n_meta_iterations=300, random_state=0).meta_fit(X_tr, y_tr)
    prior = meta.export_prior()
    # one new task with a few labelled examples per class: tune adaptation by CV on it
    rows = np.concatenate([np.flatnonzero(y_te == c)[:12] for c in np.unique(y_te)[:5]])
    # (parameters used at fit only: the distance is part of the prior, refused here)
    grid = {"temperature": [0.5, 1.0], "transductive": [False, True]}
    search = GridSearchCV(ProtoNetClassifier(prior=prior), grid, cv=3, error_score="raise")
    search.fit(X_te[rows], y_te[rows])
    assert set(search.best_params_) == {"temperature", "transductive"}
    # the meta-trained prior is carried into every clone: without it, scores are far lower
    no_prior = GridSearchCV(ProtoNetClassifier(random_state=0), grid, cv=3, error_score="raise")
    no_prior.fit(X_te[rows], y_te[rows])
    assert search.best_score_ > 0.7
    assert search.best_score_ > no_prior.best_score_ + 0.2
    # the prior itself was never modified by the search
    for k, v in prior.params.items():
        assert np.array_equal(v.numpy(), meta.meta_params_[k].numpy())


def test_grid_search_over_meta_parameters_with_tasks_as_groups(split_pool):
    X_tr, X_te, y_tr, y_te = split_pool
    # tasks of five classes (split_tasks leaves gaps in the labels: group by their rank);
    # GroupKFold keeps each task on one side
    groups = np.unique(y_tr, return_inverse=True)[1] // 5
    with sklearn.config_context(enable_metadata_routing=True):
        est = ProtoNetClassifier(n_query=5, n_meta_iterations=150, random_state=0)
        search = GridSearchCV(
            est.set_fit_request(groups=True),
            {"meta_lr": [1e-5, 3e-3]},
            cv=GroupKFold(n_splits=3),
            scoring=episodic_scorer(n_support=1),
        )
        search.fit(X_tr, y_tr, groups=groups)
    scores = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"meta_lr": 3e-3}, scores  # a useful lr beats a frozen one
    assert np.all((0 <= scores) & (scores <= 1))
    # the refitted best estimator is meta-trained on all tasks and adapts to new ones
    test = EpisodeSampler(X_te, y_te, n_way=5, n_shot=1, n_query=5, random_state=0)
    assert evaluate(search.best_estimator_, test, n_tasks=50).mean > 0.45


def test_episodic_scorer_explains_missing_groups(split_pool):
    X_tr, _, y_tr, _ = split_pool
    est = ProtoNetClassifier(random_state=0)
    with pytest.raises(ValueError, match="enable_metadata_routing"):
        cross_val_score(
            est,
            X_tr,
            y_tr,
            cv=GroupKFold(2),
            groups=y_tr // 5,
            scoring=episodic_scorer(),
            error_score="raise",
        )
