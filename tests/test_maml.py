"""MAML family specifics: batching, chunking, variants, n_way, normalisation."""

import numpy as np
import pytest
import torch
from conftest import make_pool

from skmeta import MAMLClassifier, MAMLRegressor, ReptileClassifier
from skmeta.datasets import SinusoidTasks
from skmeta.tasks import EpisodeSampler


def _one_update(est, tasks):
    est.set_params(n_meta_iterations=1, meta_batch_size=len(tasks)).meta_fit(tasks)
    return est.meta_params_, est.meta_history_[0]["loss"]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"first_order": True}, {"learn_inner_lr": True}, {"adapt": "head"}, {"n_inner_steps": 2}],
)
def test_vmap_loop_and_chunks_compute_the_same_meta_update(kwargs):
    tasks = SinusoidTasks(n_support=5, n_query=5, random_state=0).sample(6)
    ref, ref_loss = _one_update(MAMLRegressor(batching="loop", random_state=0, **kwargs), tasks)
    for other in [
        dict(batching="vmap"),
        dict(batching="vmap", task_chunk_size=4),
        dict(batching="loop", task_chunk_size=1),
    ]:
        got, loss = _one_update(MAMLRegressor(random_state=0, **other, **kwargs), tasks)
        assert loss == pytest.approx(ref_loss, rel=1e-5)
        for k in ref:
            torch.testing.assert_close(got[k], ref[k], rtol=1e-4, atol=1e-6)


def test_second_order_differs_from_first_order():
    tasks = SinusoidTasks(n_support=5, n_query=5, random_state=0).sample(4)
    second, _ = _one_update(MAMLRegressor(random_state=0), tasks)
    first, _ = _one_update(MAMLRegressor(first_order=True, random_state=0), tasks)
    assert not torch.allclose(second["body.1.weight"], first["body.1.weight"])


def test_meta_sgd_learns_step_sizes_and_anil_freezes_the_body_at_fit():
    tasks = SinusoidTasks(n_support=5, n_query=5, random_state=0)
    sgd = MAMLRegressor(learn_inner_lr=True, n_meta_iterations=20, random_state=0).meta_fit(tasks)
    lrs = {k: v for k, v in sgd.meta_params_.items() if k.startswith("inner_lr:")}
    assert len(lrs) == 6
    assert not all(torch.allclose(v, torch.full_like(v, 0.01)) for v in lrs.values())
    anil = MAMLRegressor(adapt="head", n_meta_iterations=5, random_state=0).meta_fit(tasks)
    task = SinusoidTasks(n_support=5, random_state=3).sample(1)[0]
    anil.fit(task.X_support, task.y_support)
    adapted = anil.adaptation_["weights"]
    assert torch.equal(adapted["body.1.weight"], anil.meta_params_["body.1.weight"])
    assert not torch.equal(adapted["head.weight"], anil.meta_params_["head.weight"])


def test_more_adaptation_steps_fit_the_support_set_better():
    tasks = SinusoidTasks(n_support=10, random_state=0)
    est = MAMLRegressor(n_meta_iterations=200, meta_lr=0.01, random_state=0).meta_fit(tasks)
    task = SinusoidTasks(n_support=10, random_state=5).sample(1)[0]
    errors = []
    for steps in (0, 1, 10):
        est.set_params(n_adapt_steps=steps).fit(task.X_support, task.y_support)
        errors.append(np.mean((est.predict(task.X_support) - task.y_support) ** 2))
    assert errors[2] < errors[1] < errors[0]


def test_a_meta_trained_classifier_adapts_to_n_way_tasks_only():
    X, y = make_pool(n_classes=20)
    est = MAMLClassifier(n_way=5, n_query=5, n_meta_iterations=2, random_state=0).meta_fit(X, y)
    rows = np.concatenate([np.flatnonzero(y == c)[:2] for c in range(3)])
    with pytest.raises(ValueError, match="n_way=5 classes.*support set has 3"):
        est.fit(X[rows], y[rows])
    with pytest.raises(ValueError, match="n_way=5 .*meta-training task has 3 classes"):
        MAMLClassifier(n_way=5, n_meta_iterations=1).meta_fit(
            EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, random_state=0)
        )
    # without meta-training the network is sized to the support set: any number of classes
    assert MAMLClassifier(random_state=0).fit(X[rows], y[rows]).predict(X[:4]).shape == (4,)


@pytest.mark.parametrize("make", [MAMLClassifier, ReptileClassifier])
def test_conv4_queries_do_not_depend_on_each_other(make):
    rng = np.random.default_rng(0)
    X = rng.random((60, 16, 16)).astype(np.float32)
    y = np.repeat(np.arange(5), 12)
    tasks = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=2, random_state=0)
    est = make(backbone="conv4", n_meta_iterations=2, meta_batch_size=2, random_state=0)
    est.meta_fit(tasks)
    support = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(5)])
    est.fit(X[support], y[support])
    together = est.predict_proba(X[30:40])
    alone = np.vstack([est.predict_proba(X[i : i + 1]) for i in range(30, 40)])
    np.testing.assert_allclose(together, alone, rtol=1e-4, atol=1e-6)


def _meta_gradient(est, tasks):
    """The meta-gradient at the initialisation (Adam's first step would hide its scale)."""
    est.set_params(n_meta_iterations=0).meta_fit(tasks)
    params = {k: v.clone().requires_grad_(True) for k, v in est.meta_params_.items()}
    prepared = [est._prepare(t, torch.device("cpu")) for t in tasks]
    loss, _ = est._meta_gradient(params, prepared)
    return loss, {k: v.grad for k, v in params.items()}


@pytest.mark.parametrize("transductive", [False, True])
def test_conv4_vmap_matches_the_loop(transductive):
    rng = np.random.default_rng(0)
    X = rng.random((60, 16, 16)).astype(np.float32)
    y = np.repeat(np.arange(5), 12)
    tasks = EpisodeSampler(X, y, n_way=5, n_shot=1, n_query=2, random_state=0).sample(3)
    kw = dict(backbone="conv4", random_state=0, inner_lr=0.1, transductive=transductive)
    ref_loss, ref = _meta_gradient(MAMLClassifier(batching="loop", **kw), tasks)
    loss, got = _meta_gradient(MAMLClassifier(batching="vmap", **kw), tasks)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    top = max(float(g.abs().max()) for g in ref.values())
    for k in ref:
        scale = float(ref[k].abs().max())
        if scale < 1e-5 * top:
            continue  # a conv bias before batch norm has a zero gradient: only noise to compare
        torch.testing.assert_close(got[k] / scale, ref[k] / scale, rtol=1e-3, atol=1e-4)


class _PlainSGDMAML(MAMLRegressor):
    """MAML whose outer step is SGD at rate 1, so that θ0 − θ1 is the meta-gradient."""

    def _meta_parameters(self, network):
        params = super()._meta_parameters(network)
        self.initial_params_ = {k: v.detach().clone() for k, v in params.items()}
        return params

    def _make_optimizer(self, params):
        return torch.optim.SGD(params, lr=1.0)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"first_order": True}, {"adapt": "head"}, {"learn_inner_lr": True}, {"n_inner_steps": 2}],
)
@pytest.mark.parametrize("batching", ["loop", "vmap"])
def test_the_meta_gradient_is_that_of_the_maml_objective(kwargs, batching):
    """The update equals ∇_θ of (1/T) Σ_i L(φ_i, D_i^ts), φ_i = θ − α∇L(θ, D_i^tr),
    differentiated here independently with torch.func (first order: ∇L(θ) held constant;
    ANIL: only the head moves in the inner loop; Meta-SGD: α per parameter, learned)."""
    from torch.func import functional_call
    from torch.func import grad as fgrad

    tasks = SinusoidTasks(n_support=5, n_query=7, random_state=0).sample(3)
    est = _PlainSGDMAML(random_state=0, batching=batching, inner_lr=0.05, **kwargs)
    est.set_params(n_meta_iterations=1, meta_batch_size=len(tasks)).meta_fit(tasks)
    theta0 = est.initial_params_
    net, steps = est.network_, est.n_inner_steps
    lr_keys = {k for k in theta0 if k.startswith("inner_lr:")}
    adapted = [k for k in theta0 if k not in lr_keys]
    if kwargs.get("adapt") == "head":
        adapted = [k for k in adapted if k.startswith("head.")]

    def mse(weights, X, y):
        out = functional_call(net, weights, torch.as_tensor(X, dtype=torch.float32))
        return ((out.squeeze(-1) - torch.as_tensor(y, dtype=torch.float32)) ** 2).mean()

    def objective(theta):
        weights = {k: v for k, v in theta.items() if k not in lr_keys}
        total = 0.0
        for t in tasks:
            phi = dict(weights)
            for _ in range(steps):
                support_loss = lambda a, phi=phi, t=t: mse({**phi, **a}, t.X_support, t.y_support)  # noqa: E731
                g = fgrad(support_loss)({k: phi[k] for k in adapted})
                if kwargs.get("first_order"):
                    g = {k: v.detach() for k, v in g.items()}
                lr = {k: theta.get("inner_lr:" + k, 0.05) for k in adapted}
                phi = {**phi, **{k: phi[k] - lr[k] * g[k] for k in adapted}}
            total = total + mse(phi, t.X_query, t.y_query)
        return total / len(tasks)

    expected = fgrad(objective)(theta0)
    for k, v in theta0.items():
        torch.testing.assert_close(v - est.meta_params_[k], expected[k], rtol=1e-4, atol=1e-6)
