"""Behaviour of the conditional-neural-process estimators a user relies on."""

import time
from functools import partial
from itertools import chain

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skmeta import BlackBoxClassifier, BlackBoxRegressor
from skmeta.blackbox._cnp import _MultiHeadAttention
from skmeta.datasets import SinusoidTasks


@pytest.fixture(scope="module")
def sinusoid_regressor():
    # Mixed support sizes, so the model learns how much a summary of k points is worth.
    streams = [SinusoidTasks(n_support=k, random_state=k) for k in (2, 5, 10, 20)]
    tasks = chain.from_iterable(zip(*streams))
    return BlackBoxRegressor(n_meta_iterations=150, meta_lr=3e-3, random_state=0).meta_fit(tasks)


def test_predict_return_std_shapes_and_positivity(sinusoid_regressor):
    task = SinusoidTasks(n_support=10, n_query=30, random_state=7).sample(1)[0]
    reg = sinusoid_regressor.fit(task.X_support, task.y_support)
    mean, std = reg.predict(task.X_query, return_std=True)
    assert mean.shape == std.shape == (30,)
    assert np.all(std >= 0.1)
    np.testing.assert_allclose(mean, reg.predict(task.X_query))


@pytest.mark.parametrize(
    "make",
    [
        BlackBoxRegressor,
        BlackBoxClassifier,
        partial(BlackBoxRegressor, aggregation="attention"),
        partial(BlackBoxClassifier, aggregation="attention"),
    ],
)
def test_support_order_does_not_matter(make):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 3)), np.repeat([0, 1, 2], 4)
    est = make(random_state=0)
    order = rng.permutation(12)
    predict = est.predict_proba if hasattr(est, "predict_proba") else est.predict
    first = (est.fit(X, y), predict(X))[1]
    shuffled = (est.fit(X[order], y[order]), predict(X))[1]
    np.testing.assert_allclose(first, shuffled, rtol=1e-5, atol=1e-6)


def test_fit_on_a_new_task_is_a_quick_forward_pass(sinusoid_regressor):
    prior = {k: v.clone() for k, v in sinusoid_regressor.meta_params_.items()}
    task = SinusoidTasks(n_support=10, random_state=5).sample(1)[0]
    tic = time.perf_counter()
    sinusoid_regressor.fit(task.X_support, task.y_support)
    assert time.perf_counter() - tic < 0.5
    assert all(torch.equal(prior[k], v) for k, v in sinusoid_regressor.meta_params_.items())
    assert all(v.grad is None for v in sinusoid_regressor.meta_params_.values())


def test_classifier_takes_any_number_of_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    clf = BlackBoxClassifier(n_way=3, n_query=2, n_meta_iterations=3, random_state=0)
    clf.meta_fit(X, np.repeat(np.arange(20), 10))
    proba = clf.fit(X[:14], np.repeat(np.arange(7), 2)).predict_proba(X[:5])
    assert proba.shape == (5, 7)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


def test_bad_input_gets_a_clear_error(sinusoid_regressor):
    with pytest.raises(ValueError, match="requires y"):
        BlackBoxRegressor().fit(np.zeros((3, 1)), None)
    with pytest.raises(ValueError, match="meta-trained on examples of shape"):
        sinusoid_regressor.fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="embed_dim"):
        BlackBoxRegressor(embed_dim=0).fit(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(ValueError, match="Unknown label type"):
        BlackBoxClassifier().fit(np.zeros((3, 1)), [0.5, 1.5, 2.5])


def test_attentive_regressor_learns_and_reads_its_own_task_only():
    # Meta-training lowers the query error of the attentive CNP, as of the plain one.
    test = SinusoidTasks(n_support=10, n_query=50, random_state=99).sample(30)

    def query_mse(reg):
        return np.mean(
            [np.mean((reg.fit(*t.support).predict(t.X_query) - t.y_query) ** 2) for t in test]
        )

    untrained = BlackBoxRegressor(aggregation="attention", random_state=0)
    trained = clone(untrained).set_params(n_meta_iterations=600)
    trained.meta_fit(SinusoidTasks(n_support=10, random_state=0))
    assert {"attention.query.weight", "attention.key.weight", "attention.value.weight"} <= set(
        trained.meta_params_
    )
    assert query_mse(trained) < 0.3 * query_mse(untrained)
    # Within a meta-batch, a query attends to its own task's support rows only.
    attention = _MultiHeadAttention(4, 8, 2)
    rng = torch.Generator().manual_seed(0)
    z_q, z_s, r = (torch.randn(n, d, generator=rng) for n, d in [(6, 4), (10, 4), (10, 8)])
    task_q, task_s = torch.tensor([0, 0, 0, 1, 1, 1]), torch.tensor([0] * 5 + [1] * 5)
    allowed = task_q.unsqueeze(1) == task_s.unsqueeze(0)
    before = attention(z_q, z_s, r, allowed)
    z_s2, r2 = z_s.clone(), r.clone()
    z_s2[5:], r2[5:] = z_s2[5:] + 3.0, -r2[5:]  # change task 1's support only
    after = attention(z_q, z_s2, r2, allowed)
    torch.testing.assert_close(after[:3], before[:3])
    assert not torch.allclose(after[3:], before[3:])


def test_each_head_attends_with_its_own_slice_of_the_projections():
    # Two heads over width 8: head j compares the j-th halves of W_q f(x*) and W_k f(x_i)
    # and averages the j-th half of W_v r_i; the heads' outputs are concatenated.
    torch.manual_seed(0)
    attention = _MultiHeadAttention(3, 8, 2)
    z_q, z_s, r = torch.randn(5, 3), torch.randn(7, 3), torch.randn(7, 8)
    allowed = torch.ones(5, 7, dtype=torch.bool)
    allowed[0, :4] = False
    with torch.no_grad():
        q, k, v = attention.query(z_q), attention.key(z_s), attention.value(r)
        expected = []
        for head in (slice(0, 4), slice(4, 8)):
            scores = q[:, head] @ k[:, head].T / 2.0
            weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=1)
            expected.append(weights @ v[:, head])
        torch.testing.assert_close(attention(z_q, z_s, r, allowed), torch.cat(expected, 1))


def test_grouped_heads_attend_within_each_class():
    # The classifier's mask (classes, 1, n_support): per head, each class's softmax runs
    # over that class's rows only; checked against a loop over queries, classes and heads.
    torch.manual_seed(1)
    attention = _MultiHeadAttention(3, 8, 4).double()
    z_q, z_s, r = (torch.randn(n, d, dtype=torch.float64) for n, d in [(4, 3), (9, 3), (9, 8)])
    y_s = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1])
    allowed = (y_s.unsqueeze(0) == torch.arange(3).unsqueeze(1)).unsqueeze(1)
    got = attention(z_q, z_s, r, allowed)
    with torch.no_grad():
        q, k, v = attention.query(z_q), attention.key(z_s), attention.value(r)
        for i in range(4):
            for c in range(3):
                rows = y_s == c
                for h in range(4):
                    cols = slice(2 * h, 2 * h + 2)
                    w = torch.softmax(k[rows][:, cols] @ q[i, cols] / 2**0.5, dim=0)
                    torch.testing.assert_close(got[i, c, cols], w @ v[rows][:, cols])


@pytest.mark.parametrize("Est", [BlackBoxRegressor, BlackBoxClassifier])
def test_n_heads_must_divide_embed_dim_and_fixes_the_prior(Est):
    X, y = _blob_tasks()
    if Est is BlackBoxRegressor:
        tasks = (SinusoidTasks(random_state=0),)
        support = (np.zeros((3, 1)), np.zeros(3))
    else:
        tasks, support = (X, y), (X[:10], y[:10])
    bad = Est(aggregation="attention", embed_dim=12, n_heads=8, n_meta_iterations=1)
    with pytest.raises(ValueError, match="n_heads=8 must divide embed_dim=12"):
        bad.meta_fit(*tasks)
    est = Est(aggregation="attention", n_heads=4, n_meta_iterations=2, random_state=0)
    est.meta_fit(*tasks)
    # the heads split the same weights another way: a prior of 4 heads is not one of 2
    with pytest.raises(ValueError, match="n_heads=4"):
        Est(aggregation="attention", n_heads=2, prior=est.export_prior()).fit(*support)
    Est(aggregation="attention", n_heads=4, prior=est.export_prior()).fit(*support)
    with pytest.raises(ValueError, match="meta-trained with n_heads=4"):
        est.set_params(n_heads=2).fit(*support)
    # without attention the heads are unused: changing them changes nothing
    mean = Est(n_meta_iterations=2, random_state=0).meta_fit(*tasks)
    before = mean.fit(*support).predict(support[0])
    np.testing.assert_array_equal(
        mean.set_params(n_heads=3).fit(*support).predict(support[0]), before
    )


def test_prior_of_a_mean_cnp_is_refused_by_an_attentive_one(sinusoid_regressor):
    with pytest.raises(ValueError, match="aggregation"):
        BlackBoxRegressor(aggregation="attention", prior=sinusoid_regressor.export_prior()).fit(
            np.zeros((3, 1)), np.zeros(3)
        )


def _blob_tasks():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(1500, centers=50, n_features=8, cluster_std=2.0, random_state=0)
    return X, y


def test_attentive_classifier_learns_and_summarises_each_class_apart():
    X, y = _blob_tasks()
    train, test = y >= 10, y < 10
    rng = np.random.default_rng(1)
    support = np.concatenate(
        [rng.choice(np.flatnonzero(y == k), 3, replace=False) for k in range(10)]
    )
    query = np.setdiff1d(np.flatnonzero(test), support)
    untrained = BlackBoxClassifier(aggregation="attention", n_way=5, n_shot=3, random_state=0)
    trained = clone(untrained).set_params(n_meta_iterations=150, meta_lr=3e-3)
    trained.meta_fit(X[train], y[train])
    assert {"attention.query.weight", "attention.key.weight"} <= set(trained.meta_params_)

    def accuracy(clf):
        return clf.fit(X[support], y[support]).score(X[query], y[query])

    assert accuracy(trained) > accuracy(untrained) + 0.1
    # A class's summary reads that class's support rows only, and with one shot per class
    # it is that row's representation: the mean.
    attention = _MultiHeadAttention(4, 8, 2)
    rng_t = torch.Generator().manual_seed(0)
    z_q, z_s, r = (torch.randn(n, d, generator=rng_t) for n, d in [(6, 4), (9, 4), (9, 8)])
    y_s = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    allowed = (y_s.unsqueeze(0) == torch.arange(3).unsqueeze(1)).unsqueeze(1)
    before = attention(z_q, z_s, r, allowed)
    assert before.shape == (6, 3, 8)
    r2 = r.clone()
    r2[3:6] += 5.0  # change class 1 only
    after = attention(z_q, z_s, r2, allowed)
    torch.testing.assert_close(after[:, [0, 2]], before[:, [0, 2]])
    assert not torch.allclose(after[:, 1], before[:, 1])
    one_shot = (torch.arange(3).unsqueeze(0) == torch.arange(3).unsqueeze(1)).unsqueeze(1)
    with torch.no_grad():
        values = attention.value(r[:3])
    torch.testing.assert_close(attention(z_q, z_s[:3], r[:3], one_shot), values.expand(6, 3, 8))


def test_prior_of_a_mean_classifier_is_refused_by_an_attentive_one():
    X, y = _blob_tasks()
    mean = BlackBoxClassifier(n_meta_iterations=2, random_state=0).meta_fit(X, y)
    with pytest.raises(ValueError, match="aggregation"):
        BlackBoxClassifier(aggregation="attention", prior=mean.export_prior()).fit(X[:10], y[:10])


def test_pickles_from_before_n_heads(tmp_path):
    import pickle

    from skmeta.blackbox._cnp import _DotAttention

    tasks = SinusoidTasks(n_support=5, random_state=0)
    reg = BlackBoxRegressor(n_meta_iterations=2, random_state=0).meta_fit(tasks)
    # a mean CNP pickled before n_heads existed loads with the default
    state = reg.__getstate__()
    del state["n_heads"]
    old = BlackBoxRegressor.__new__(BlackBoxRegressor)
    old.__setstate__(state)
    assert old.get_params()["n_heads"] == 8 and "n_heads=" not in repr(old)
    # an attentive one, whose single-head attention no longer fits, says what to do
    anp = BlackBoxRegressor(aggregation="attention", n_meta_iterations=2, random_state=0)
    anp.meta_fit(tasks).network_.attention = _DotAttention()
    with pytest.raises(ValueError, match="earlier skmeta.*meta_fit"):
        pickle.loads(pickle.dumps(anp))


def test_an_unused_n_heads_does_not_stop_a_resume(tmp_path):
    tasks = SinusoidTasks(n_support=5, random_state=0)
    path = tmp_path / "mean.ckpt"
    BlackBoxRegressor(n_meta_iterations=3, random_state=0).meta_fit(tasks, checkpoint=path)
    resumed = BlackBoxRegressor(n_heads=4, n_meta_iterations=5, random_state=0)
    assert resumed.meta_fit(tasks, checkpoint=path).n_meta_iter_ == 5
    assert len(resumed.meta_history_) == 5
    path = tmp_path / "attention.ckpt"
    BlackBoxRegressor(aggregation="attention", n_meta_iterations=3, random_state=0).meta_fit(
        tasks, checkpoint=path
    )
    other = BlackBoxRegressor(aggregation="attention", n_heads=4, n_meta_iterations=5)
    with pytest.raises(ValueError, match="n_heads"):
        other.set_params(random_state=0).meta_fit(tasks, checkpoint=path)
