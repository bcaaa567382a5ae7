"""The backbones: Conv-4 memory layouts (a speed choice that never changes a result),
TaskBatchNorm's gradients, and the CPU allocator setting."""

import pickle
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from skmeta import MAMLClassifier, ProtoNetClassifier
from skmeta.nn import (
    Conv4,
    TaskBatchNorm,
    _allocator,
    make_backbone,
    make_predictor,
    reference_rows,
)


def _twins():
    torch.manual_seed(0)
    nchw, nhwc = Conv4(channels_last=False), Conv4(channels_last=True)
    nhwc.load_state_dict(nchw.state_dict())
    return nchw, nhwc


def _is_conv_bias(net, name):
    """Batch norm follows each convolution and cancels its bias: that bias's gradient is
    rounding noise around 0, not worth comparing."""
    layer, _, kind = name.partition(".")
    return kind == "bias" and isinstance(net[int(layer)], torch.nn.Conv2d)


def test_channels_last_gives_the_same_embeddings_and_gradients():
    nchw, nhwc = _twins()
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nchw[4].weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.rand(12, 1, 28, 28)
    torch.testing.assert_close(nhwc(x), nchw(x), rtol=1e-4, atol=1e-5)
    nchw(x).pow(2).sum().backward()
    nhwc(x).pow(2).sum().backward()
    # Elementwise equality is too strict: where a pre-activation is within rounding of 0,
    # the two layouts' last-bit differences can move a max-pool's gradient to another
    # (tied) cell. The gradients agree as vectors.
    for (name, a), b in zip(nchw.named_parameters(), nhwc.parameters()):
        if _is_conv_bias(nchw, name):
            continue
        assert float((b.grad - a.grad).norm()) <= 5e-2 * float(a.grad.norm())


def test_channels_last_conv4_works_under_vmap_and_grad():
    nchw, nhwc = _twins()
    params = {k: v.detach() for k, v in nhwc.named_parameters()}
    x = torch.rand(3, 6, 1, 28, 28)  # 3 tasks of 6 images

    def loss(p, xb, net):
        return functional_call(net, p, (xb,)).pow(2).mean()

    per_task = vmap(grad(loss), in_dims=(None, 0, None))(params, x, nhwc)
    reference = vmap(grad(loss), in_dims=(None, 0, None))(params, x, nchw)
    for k in [k for k in params if not _is_conv_bias(nchw, k)]:
        diff = (per_task[k] - reference[k]).flatten(1).norm(dim=1)
        assert bool((diff <= 5e-2 * reference[k].flatten(1).norm(dim=1)).all())


def test_layout_choice_per_family():
    # Forward-pass learners get channels-last; the MAML family adapts by functional
    # gradient steps, slower in that layout on CPU, and keeps the default.
    assert make_backbone("conv4", (28, 28))[0].channels_last
    assert not make_backbone("conv4", (28, 28), channels_last=False)[0].channels_last
    assert not make_predictor("conv4", (28, 28), 5, channels_last=False)[0].body[0].channels_last
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 28, 28)).astype(np.float32), np.repeat(np.arange(6), 10)
    proto = ProtoNetClassifier(backbone="conv4", n_way=3, n_query=2, n_meta_iterations=1)
    maml = MAMLClassifier(backbone="conv4", n_way=3, n_query=2, n_meta_iterations=1)
    assert proto.meta_fit(X, y).network_.channels_last
    assert not maml.meta_fit(X, y).network_.body[0].channels_last


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_priors_and_pickles_carry_over_between_layouts(layout):
    rng = np.random.default_rng(0)
    X, y = rng.random((60, 28, 28)).astype(np.float32), np.repeat(np.arange(6), 10)
    proto = ProtoNetClassifier(backbone="conv4", n_way=3, n_query=2, n_meta_iterations=3)
    proto.meta_fit(X, y, groups=None)
    prior = proto.export_prior()
    if layout == "contiguous":  # e.g. a prior saved before the layout changed
        prior.params = {k: v.contiguous() for k, v in prior.params.items()}
    adapted = ProtoNetClassifier(backbone="conv4", prior=prior).fit(X[:12], y[:12])
    expected = proto.fit(X[:12], y[:12]).predict_proba(X[12:30])
    np.testing.assert_allclose(adapted.predict_proba(X[12:30]), expected, rtol=1e-4, atol=1e-5)
    restored = pickle.loads(pickle.dumps(adapted))
    np.testing.assert_allclose(restored.predict_proba(X[12:30]), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_reference_rows_give_the_same_outputs_with_and_without_autograd(channels_last):
    # Without autograd, TaskBatchNorm skips the autograd.Function and calls its kernels
    # directly: the outputs must not change, and gradients must still flow with it.
    from skmeta.nn import reference_rows

    torch.manual_seed(0)
    net = Conv4(channels_last=channels_last)
    for norm in (m for m in net.modules() if hasattr(m, "n_reference")):
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.normal_()
    x = torch.randn(12, 1, 28, 28)
    with reference_rows(net, 4):
        with torch.no_grad():
            fast = net(x)
        slow = net(x)
    assert slow.requires_grad and not fast.requires_grad
    torch.testing.assert_close(fast, slow.detach(), rtol=0, atol=0)
    slow.sum().backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("n_reference", [None, 6, 9], ids=["none", "all-rows", "more-rows"])
@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 4, 4)], ids=["features", "images"])
def test_task_batch_norm_over_all_rows_matches_the_plain_formula(shape, n_reference):
    # Statistics of every row go through ATen's training-mode batch norm: its outputs,
    # gradients and second-order gradients (MAML) must be those of the plain formula.
    from skmeta.nn import TaskBatchNorm, reference_rows
    from skmeta.nn._backbones import _reference_norm

    gen = torch.Generator().manual_seed(1)
    norm = TaskBatchNorm(3).double()
    norm.weight.data = torch.rand(3, dtype=torch.float64, generator=gen) + 0.5
    norm.bias.data = torch.randn(3, dtype=torch.float64, generator=gen)
    x = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
    with reference_rows(norm, n_reference):
        y = norm(x)
    expected = _reference_norm(x, norm.weight, norm.bias, shape[0], norm.eps)
    torch.testing.assert_close(y, expected)
    inputs = (x, norm.weight, norm.bias)
    w = torch.randn(shape, dtype=torch.float64, generator=gen)
    got = torch.autograd.grad((y * w).sum(), inputs, create_graph=True)
    want = torch.autograd.grad((expected * w).sum(), inputs, create_graph=True)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b)
    # (the bias's gradient does not depend on the inputs: allow_unused)
    second = torch.autograd.grad(sum((g * g).sum() for g in got), inputs, allow_unused=True)
    second_want = torch.autograd.grad(sum((g * g).sum() for g in want), inputs, allow_unused=True)
    assert [a is None for a in second] == [b is None for b in second_want]
    for a, b in zip(second, second_want):
        if a is not None:
            torch.testing.assert_close(a, b)


def test_task_batch_norm_of_one_row_per_channel_gives_the_bias():
    # A single row of features has one value per channel, which F.batch_norm refuses in
    # training mode: the reference-row path normalises it (variance 0) to the bias.
    from skmeta.nn import TaskBatchNorm

    norm = TaskBatchNorm(4)
    norm.bias.data = torch.arange(4.0)
    x = torch.randn(1, 4, requires_grad=True)
    y = norm(x)
    # (x - mean is 0, but ATen folds it into x * scale + shift with scale ~ 1 / sqrt(eps))
    torch.testing.assert_close(y, norm.bias.detach().view(1, 4), rtol=0, atol=1e-3)
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("shape", [(5, 2), (5, 2, 3, 2)], ids=["features", "images"])
@pytest.mark.parametrize("n_reference", [2, 5], ids=["support-rows", "all-rows"])
def test_reference_batch_norm_gradients_match_numerical_ones(shape, n_reference):
    # TaskBatchNorm's autograd.Function has a hand-written backward (ATen kernels plus the
    # correction through the reference rows' statistics) and, for second-order MAML, a
    # double backward through the plain formula: both checked by finite differences.
    from skmeta.nn._backbones import _ReferenceBatchNorm

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = (torch.rand(2, dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    bias = torch.randn(2, dtype=torch.float64, generator=gen, requires_grad=True)

    def norm(x, weight, bias):
        return _ReferenceBatchNorm.apply(x, weight, bias, n_reference, 1e-5)[0]

    assert torch.autograd.gradcheck(norm, (x, weight, bias))
    assert torch.autograd.gradgradcheck(norm, (x, weight, bias))
    # rows past the reference rows do not move the statistics
    y = norm(x, weight, bias)
    (g,) = torch.autograd.grad(y[:n_reference].sum(), x)
    if n_reference < shape[0]:
        assert torch.count_nonzero(g[n_reference:]) == 0


_HEAP_PROBE = """
import resource, sys, torch
mode, mb = sys.argv[1], int(sys.argv[2])
if mode == "keep":
    from skmeta.nn import keep_cpu_heap
    assert keep_cpu_heap()
elif mode == "widen":  # as an estimator resolving its device to the CPU does
    from skmeta.base import resolve_device
    resolve_device("cpu")
def step():  # three tensors of `mb` MB, written, then freed together
    xs = [torch.ones(mb * 2**18) for _ in range(3)]
    del xs
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5)
"""

_glibc_only = pytest.mark.skipif(not _allocator._is_glibc(), reason="glibc only")


def _heap_probe_faults(mode: str, mb: int) -> float:
    """Page faults per step of `_HEAP_PROBE` in a fresh interpreter (glibc's thresholds
    are per process, and the test session has already moved them)."""
    out = subprocess.run(
        [sys.executable, "-c", _HEAP_PROBE, mode, str(mb)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


@_glibc_only
def test_keep_cpu_heap_stops_glibc_returning_freed_tensors():
    # 60 MB freed at the top of the heap passes glibc's adaptive trim threshold (twice the
    # largest block it has unmapped, 20 MB here): by default every step faults its pages
    # in again (about 15,000 4-kB pages); with the heap kept, they are reused.
    default, kept = _heap_probe_faults("default", 20), _heap_probe_faults("keep", 20)
    assert default > 5000
    assert kept < default / 5


@_glibc_only
def test_cpu_estimators_widen_glibc_heap_thresholds_once():
    # 36 MB freed at the top of the heap passes the trim threshold that 12 MB blocks leave
    # (24 MB): every step faults its pages in again. Resolving the device
    # to the CPU has raised the threshold to 64 MB first: the heap keeps them. (Measured:
    # 4,900 to 8,000 by default, 614 widened, as with keep_cpu_heap.)
    default, widened = _heap_probe_faults("default", 12), _heap_probe_faults("widen", 12)
    assert default > 3000
    assert widened < default / 4


def test_estimators_on_the_default_device_widen_the_cpu_heap(monkeypatch):
    # device="auto" resolving to the CPU widens it as device="cpu" does (it returned
    # before the widening, so the documented default never ran).
    import skmeta.base

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    calls = []
    monkeypatch.setattr(skmeta.base, "_widen_cpu_heap", lambda: calls.append(1))
    X, y = np.random.default_rng(0).normal(size=(6, 3)), [0, 0, 1, 1, 2, 2]
    ProtoNetClassifier(random_state=0).fit(X, y)  # device="auto", the default
    assert calls


def test_widen_cpu_heap_acts_once_per_process(monkeypatch):
    monkeypatch.setattr(_allocator, "_heap_widened", False)
    monkeypatch.setattr(_allocator, "_is_glibc", lambda: False)
    assert not _allocator._widen_cpu_heap()  # not glibc: nothing done, and not retried
    assert _allocator._heap_widened
    monkeypatch.setattr(_allocator, "_is_glibc", lambda: True)
    assert not _allocator._widen_cpu_heap()


@_glibc_only
def test_widen_cpu_heap_frees_its_block(monkeypatch):
    monkeypatch.setattr(_allocator, "_heap_widened", False)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _allocator._widen_cpu_heap()
    assert not _allocator._widen_cpu_heap()
    # the 32 MB block was never touched: the peak resident size did not grow by it
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 16 * 2**10


def test_keep_cpu_heap_checks_its_arguments():
    from skmeta.nn import keep_cpu_heap

    with pytest.raises(ValueError, match="largest"):
        keep_cpu_heap(mmap_threshold=64 * 2**20)
    with pytest.raises(ValueError, match="non-negative int"):
        keep_cpu_heap(trim_threshold=-1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_carried_statistics_equal_reference_rows_to_second_order(channels_last):
    # Two passes (support, then queries with the support's statistics) must give what one
    # pass with the support as reference rows gives: outputs, gradients, and the
    # gradients of gradients (second-order MAML through an embedding).
    from skmeta.nn import carry_statistics, reference_rows

    torch.manual_seed(0)
    net = Conv4(channels_last=channels_last).double()
    for norm in (m for m in net.modules() if hasattr(m, "n_reference")):
        norm.weight.data.uniform_(0.5, 1.5)
        norm.bias.data.normal_()
    x = torch.randn(9, 1, 28, 28, dtype=torch.float64, requires_grad=True)
    w = torch.randn(9, 64, dtype=torch.float64)
    params = [x, *net.parameters()]

    def one_pass():
        with reference_rows(net, 4):
            return net(x)

    def two_passes():
        with carry_statistics(net):
            return torch.cat([net(x[:4]), net(x[4:])])

    expected, got = one_pass(), two_passes()
    torch.testing.assert_close(got, expected)
    g_expected = torch.autograd.grad((expected * w).sum(), params, create_graph=True)
    g_got = torch.autograd.grad((got * w).sum(), params, create_graph=True)
    for a, b in zip(g_got, g_expected):
        torch.testing.assert_close(a, b)
    gg_expected = torch.autograd.grad(sum((g**2).sum() for g in g_expected), params)
    gg_got = torch.autograd.grad(sum((g**2).sum() for g in g_got), params)
    for a, b in zip(gg_got, gg_expected):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        torch.testing.assert_close(two_passes(), expected.detach())
    assert all(m.carried is None for m in net.modules() if hasattr(m, "carried"))


def test_carried_batch_norm_gradients_match_numerical_ones():
    from skmeta.nn._backbones import _CarriedBatchNorm

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 2, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    mean = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)
    var = (torch.rand(3, dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    weight = (torch.rand(3, dtype=torch.float64, generator=gen) + 0.5).requires_grad_()
    bias = torch.randn(3, dtype=torch.float64, generator=gen, requires_grad=True)

    def norm(*args):
        return _CarriedBatchNorm.apply(*args, 1e-5)

    assert torch.autograd.gradcheck(norm, (x, mean, var, weight, bias))
    assert torch.autograd.gradgradcheck(norm, (x, mean, var, weight, bias))


def test_functional_call_matches_torchs_and_restores_the_module(monkeypatch):
    from skmeta.nn import MLP, _functional
    from skmeta.nn._functional import functional_call as ours_call

    torch_call = functional_call

    def not_this_one(*args):
        raise AssertionError("the fast path fell back to torch's functional_call")

    monkeypatch.setattr(_functional, "_torch_functional_call", not_this_one)
    torch.manual_seed(0)
    for net, x in ((MLP(6, (8, 8), 3), torch.randn(5, 6)), (Conv4(1), torch.randn(4, 1, 28, 28))):
        own = {k: v.detach().clone() for k, v in net.named_parameters()}
        params = {k: (v + 0.1 * torch.randn_like(v)).requires_grad_() for k, v in own.items()}
        ours, theirs = ours_call(net, params, (x,)), torch_call(net, params, (x,))
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
        grads = torch.autograd.grad(ours.square().sum(), list(params.values()))
        ref = torch.autograd.grad(theirs.square().sum(), list(params.values()))
        for g, r in zip(grads, ref):
            torch.testing.assert_close(g, r, rtol=0, atol=0)
        # The module keeps its own parameters, also when the call raises.
        for k, p in net.named_parameters():
            assert isinstance(p, torch.nn.Parameter) and torch.equal(p, own[k])
        with pytest.raises(RuntimeError):
            ours_call(net, params, (torch.randn(2, 5, 5),))
        for k, p in net.named_parameters():
            assert isinstance(p, torch.nn.Parameter) and torch.equal(p, own[k])


def test_functional_call_leaves_other_cases_to_torch():
    from skmeta.nn import MLP
    from skmeta.nn._functional import functional_call as ours_call

    torch_call = functional_call
    torch.manual_seed(0)
    net = MLP(3, (4,), 2)
    x = torch.randn(5, 3)
    params = {k: v.detach() + 1 for k, v in net.named_parameters()}
    # A subset of the parameters: the others are the module's own, as in torch's.
    first = dict(list(params.items())[:1])
    torch.testing.assert_close(ours_call(net, first, (x,)), torch_call(net, first, (x,)))
    # Weights tied under two names.
    tied = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    shared = {k: v.detach() * 2 for k, v in tied.named_parameters()}
    torch.testing.assert_close(ours_call(tied, shared, (x,)), torch_call(tied, shared, (x,)))
    # Inside vmap: batched parameters, one set per task.
    batched = {k: torch.stack([v, v + 1]) for k, v in params.items()}
    out = vmap(lambda p: ours_call(net, p, (x,)))(batched)
    ref = vmap(lambda p: torch_call(net, p, (x,)))(batched)
    torch.testing.assert_close(out, ref)


def test_make_backbone_gives_a_users_batch_norm_the_tasks_statistics():
    """torch's BatchNorm*d in a user's module becomes a TaskBatchNorm in skmeta's copy:
    same affine parameters and eps, no running statistics, the user's module untouched."""
    user = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4, eps=1e-3),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6 * 6, 5),
        nn.BatchNorm1d(5, affine=False),
    )
    with torch.no_grad():
        user[1].weight.uniform_(0.5, 2.0)
        user[1].bias.uniform_(-1.0, 1.0)
    net, shape = make_backbone(user, (1, 8, 8))
    assert isinstance(user[1], nn.BatchNorm2d) and isinstance(user[5], nn.BatchNorm1d)
    assert isinstance(net[1], TaskBatchNorm) and isinstance(net[5], TaskBatchNorm)
    assert net[1].eps == 1e-3 and torch.equal(net[1].weight, user[1].weight)
    assert [name for name, _ in net.named_parameters()] == [
        name for name, _ in user.named_parameters()
    ]  # affine=False keeps no parameters: its weight and bias are constant buffers
    assert not any("running" in name for name, _ in net.named_buffers())
    x = torch.randn(7, 1, 8, 8)
    user.train()
    np.testing.assert_allclose(net(x).detach(), user(x).detach(), rtol=1e-4, atol=1e-5)
    with reference_rows(net, 4):  # the support's statistics: a query ignores the others
        alone = net(torch.cat([x[:4], x[6:]]))[4:]
        np.testing.assert_allclose(net(x)[6:].detach(), alone.detach(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", [(9, 3), (9, 3, 4, 4)])
def test_task_batch_norm_statistics_survive_a_large_offset(shape):
    # E[x^2] - E[x]^2 in float32 lost the variance of a feature at 3000 +- 1 (outputs off
    # by hundreds); every path must normalise as the two-pass formula does.
    from skmeta.nn import carry_statistics
    from skmeta.nn._backbones import _statistics

    torch.manual_seed(0)
    x = 3000.0 + torch.randn(*shape)
    ref = x[:7].double()
    dims = [0, *range(2, x.dim())]
    mean, var = ref.mean(dim=dims), ref.var(dim=dims, unbiased=False)
    view = [1, -1] + [1] * (x.dim() - 2)
    exact = ((x.double() - mean.view(view)) / torch.sqrt(var.view(view) + 1e-5)).float()
    bn = TaskBatchNorm(3)
    with torch.no_grad(), reference_rows(bn, 7):
        eager = bn(x)
    with reference_rows(bn, 7):
        graded = bn(x)  # the autograd.Function
    bn.vmapped = True
    with reference_rows(bn, 7):
        plain = bn(x)  # the plain differentiable operations (vmap's path)
    bn.vmapped = False
    for got in (eager, graded, plain):
        torch.testing.assert_close(got, exact, atol=5e-3, rtol=0)
    with torch.no_grad(), carry_statistics(bn):
        bn(x[:7])
        carried = bn(x)
    torch.testing.assert_close(carried, exact, atol=5e-3, rtol=0)
    for eager_flag in (True, False):
        m, v = _statistics(x[:7], eager=eager_flag)
        torch.testing.assert_close(v.double(), var, rtol=1e-3, atol=1e-6)


def test_a_first_batch_norm_layer_makes_predictions_offset_free():
    # Standardising raw tabular features with a first BatchNorm1d: adding a constant to
    # every feature must change nothing, transductive or not.
    rng = np.random.default_rng(0)
    X = np.repeat(np.eye(3) * 4, 10, axis=0)[:, :2] + rng.normal(size=(30, 2))
    y = np.repeat(np.arange(3), 10)
    support = np.r_[0, 1, 10, 11, 20, 21]
    torch.manual_seed(0)
    module = nn.Sequential(nn.BatchNorm1d(2), nn.Linear(2, 16))  # (copied by each fit)
    for transductive in (False, True):
        probas = []
        for offset in (0.0, 1e4):
            est = ProtoNetClassifier(
                backbone=module,
                transductive=transductive,
                random_state=0,
            )
            est.fit(X[support] + offset, y[support])
            probas.append(est.predict_proba(X + offset))
        np.testing.assert_allclose(probas[0], probas[1], atol=1e-3)
