"""Backbones: the networks that meta-learners share across tasks."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("batch", "layer", "none")


def _statistics(ref: torch.Tensor, eager: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of ``ref`` over all dimensions but 1.

    Sums and sums of squares take about half the time of F.batch_norm's statistics on CPU,
    and a fifth of torch.var_mean's, over (N, H, W). But E[x^2] - E[x]^2 in float32 loses
    the variance's digits when the mean is large against the spread (a feature at
    3000 +- 1): such channels take their sums about the first example's channel means
    instead (the variance does not depend on the shift), which costs about twice as
    much. ``eager=False`` (under vmap, where a data-dependent branch cannot run) always
    shifts.
    """
    dims = [0, *range(2, ref.dim())]
    count = ref.numel() // ref.shape[1]
    if eager:
        mean = ref.sum(dim=dims) / count
        var = (ref * ref).sum(dim=dims) / count - mean * mean
        # relative error of the variance: about 1e-7 * mean^2 / var
        if not bool((mean * mean > 1e3 * var.abs()).any()):
            return mean, var.clamp_min(0.0)
    shift = ref[:1].mean(dim=dims, keepdim=True).detach()
    centred = ref - shift
    offset = centred.sum(dim=dims) / count
    var = ((centred * centred).sum(dim=dims) / count - offset * offset).clamp_min(0.0)
    return shift.reshape(-1) + offset, var


def _normalise(x, mean, var, weight, bias, eps):
    """``x`` normalised with given statistics, in plain differentiable operations."""
    shape = [1, -1] + [1] * (x.dim() - 2)
    scale = weight * torch.rsqrt(var + eps)
    return torch.addcmul((bias - mean * scale).view(shape), x, scale.view(shape))


def _reference_norm(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n_reference: int, eps: float
) -> torch.Tensor:
    """Normalise all rows of ``x`` with the statistics of its first ``n_reference`` rows,
    in plain differentiable operations (they work under vmap and to any order)."""
    mean, var = _statistics(x[:n_reference], eager=False)
    return _normalise(x, mean, var, weight, bias, eps)


def _eval_mode_backward(grad, x, weight, mean, var, eps):
    """Batch norm's backward with given statistics, and the gradients to the statistics.

    ATen's eval-mode backward holds the statistics constant: it gives the gradient through
    the affine map, sum(grad * x_hat) (the weight's) and sum(grad) (the bias's). With
    y = weight * (x - mean) * rstd + bias, d mean = -weight * rstd * sum(grad) and
    d var = -weight * sum(grad * x_hat) * rstd^2 / 2, from those sums.

    Returns the gradients to ``x``, ``weight``, ``bias``, ``mean`` and ``var``.
    """
    grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
        grad, x, weight, mean, var, None, None, False, eps, [True, True, True]
    )
    rstd2 = 1.0 / (var + eps)
    grad_mean = -weight * torch.sqrt(rstd2) * grad_bias
    grad_var = -0.5 * weight * grad_weight * rstd2
    return grad_x, grad_weight, grad_bias, grad_mean, grad_var


class _ReferenceBatchNorm(torch.autograd.Function):
    """`_reference_norm` with ATen's batch-norm kernels: one pass over the batch forward
    and one backward (differentiating the plain operations takes about five full-size
    passes backward, slice, sum and add included), plus, when the reference rows are not
    the whole batch, a correction on those rows, the only ones the statistics depend on."""

    @staticmethod
    def forward(x, weight, bias, n_reference, eps):
        mean, var = _statistics(x[:n_reference])
        return F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps), mean, var

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, ctx.n_reference, ctx.eps = inputs
        _, mean, var = output
        ctx.mark_non_differentiable(mean, var)
        ctx.save_for_backward(x, weight, bias, mean, var)

    @staticmethod
    def backward(ctx, grad, _grad_mean, _grad_var):
        x, weight, bias, mean, var = ctx.saved_tensors
        n, eps = ctx.n_reference, ctx.eps
        if torch.is_grad_enabled():  # create_graph=True: differentiate the plain formula
            needed = ctx.needs_input_grad[:3]
            inputs = [t for t, need in zip((x, weight, bias), needed) if need]
            y = _reference_norm(x, weight, bias, n, eps)
            grads = iter(torch.autograd.grad(y, inputs, grad, create_graph=True))
            return (*(next(grads) if need else None for need in needed), None, None)
        if n >= x.shape[0]:  # statistics of the whole batch: batch norm's own backward
            grads = torch.ops.aten.native_batch_norm_backward(
                grad, x, weight, None, None, mean, torch.rsqrt(var + eps), True, eps, [True] * 3
            )
            return (*grads, None, None)
        grad_x, grad_weight, grad_bias, grad_mean, grad_var = _eval_mode_backward(
            grad, x, weight, mean, var, eps
        )
        # The statistics' gradients, spread over the reference rows: d mean / d x_i =
        # 1 / count and d var / d x_i = 2 (x_i - mean) / count.
        count = x[:n].numel() // x.shape[1]
        shape = [1, -1] + [1] * (x.dim() - 2)
        shift = (grad_mean / count).view(shape)
        slope = (2 * grad_var / count).view(shape)
        grad_x[:n] += shift + slope * (x[:n] - mean.view(shape))
        return grad_x, grad_weight, grad_bias, None, None


class _CarriedBatchNorm(torch.autograd.Function):
    """`_normalise` on ATen's eval-mode batch-norm kernels, differentiable with respect to
    the statistics as well (they come from another batch: the support set's pass)."""

    @staticmethod
    def forward(x, mean, var, weight, bias, eps):
        return F.batch_norm(x, mean, var, weight, bias, training=False, eps=eps)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, mean, var, weight, _, ctx.eps = inputs
        ctx.save_for_backward(x, mean, var, weight)

    @staticmethod
    def backward(ctx, grad):
        x, mean, var, weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            # create_graph=True: the partial derivatives in differentiable operations.
            # (autograd.grad of the plain formula would not do: the statistics are
            # functions of the support rows in the caller's graph, so it would add their
            # path to x's partial derivative a second time.)
            dims = [0, *range(2, x.dim())]
            shape = [1, -1] + [1] * (x.dim() - 2)
            rstd = torch.rsqrt(var + ctx.eps)
            centred = x - mean.view(shape)
            grad_bias = grad.sum(dim=dims)
            grad_centred = (grad * centred).sum(dim=dims)
            grad_x = grad * (weight * rstd).view(shape)
            grad_mean = -weight * rstd * grad_bias
            grad_var = -0.5 * weight * grad_centred * rstd**3
            return grad_x, grad_mean, grad_var, grad_centred * rstd, grad_bias, None
        grad_x, grad_weight, grad_bias, grad_mean, grad_var = _eval_mode_backward(
            grad, x, weight, mean, var, ctx.eps
        )
        return grad_x, grad_mean, grad_var, grad_weight, grad_bias, None


class TaskBatchNorm(nn.Module):
    """Batch normalisation with statistics from the current task only.

    Unlike `torch.nn.BatchNorm2d`, it keeps no running statistics, so nothing learnt on
    one task's batch carries over to another task. The statistics come from the rows of
    the batch being normalised, or only from its first ``n_reference`` rows inside
    `reference_rows` — the support set, when support and query pass through together, so
    that a query example never depends on the other query examples (non-transductive) —
    or, inside `carry_statistics`, from the first batch it normalises (the support set,
    passed first), applied to the later batches (the queries).

    Parameters
    ----------
    num_features : int
        Channels (for ``(n, C, H, W)`` inputs) or features (for ``(n, C)`` inputs).
    eps : float, default=1e-5
    """

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.n_reference: int | None = None
        self.vmapped = False
        self.carried: list | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        carried = getattr(self, "carried", None)  # modules pickled before it existed
        if carried is not None:
            return self._carried_forward(x, carried)
        if self.vmapped:
            n = x.shape[0] if self.n_reference is None else self.n_reference
            return _reference_norm(x, self.weight, self.bias, n, self.eps)
        n = x.shape[0] if self.n_reference is None else self.n_reference
        if n >= x.shape[0] and x.numel() > x.shape[1]:
            # Statistics of every row: ATen's training-mode batch norm computes them in its
            # own kernel (forward and backward over Conv-4's layers on CPU: 0.70x the time
            # of the reference-row path, benchmarks/task_batch_norm.py). One value per
            # channel, which it refuses, keeps the reference-row path (variance 0).
            return F.batch_norm(x, None, None, self.weight, self.bias, training=True, eps=self.eps)
        if not torch.is_grad_enabled():
            # Prediction: the same kernels without the autograd.Function machinery, whose
            # apply binds its arguments through inspect.signature on every call (about
            # 0.2 ms a layer, a few per cent of a 5-way 1-shot fit + predict).
            return _ReferenceBatchNorm.forward(x, self.weight, self.bias, n, self.eps)[0]
        return _ReferenceBatchNorm.apply(x, self.weight, self.bias, n, self.eps)[0]

    def _carried_forward(self, x: torch.Tensor, carried: list) -> torch.Tensor:
        if not carried:  # the first batch: its statistics, kept for the next ones
            carried.extend(_statistics(x, eager=not self.vmapped))
        mean, var = carried
        if self.vmapped:
            return _normalise(x, mean, var, self.weight, self.bias, self.eps)
        if not torch.is_grad_enabled():
            return F.batch_norm(x, mean, var, self.weight, self.bias, training=False, eps=self.eps)
        return _CarriedBatchNorm.apply(x, mean, var, self.weight, self.bias, self.eps)


@contextmanager
def _task_norm_setting(
    module: nn.Module, name: str, make_value: Callable[[], Any]
) -> Iterator[None]:
    """Inside the block, attribute ``name`` of each `TaskBatchNorm` layer of ``module`` is
    ``make_value()`` (called once per layer); afterwards, what it was before."""
    layers = [m for m in module.modules() if isinstance(m, TaskBatchNorm)]
    previous = [getattr(m, name, None) for m in layers]  # None: pickled before it existed
    for m in layers:
        setattr(m, name, make_value())
    try:
        yield
    finally:
        for m, p in zip(layers, previous):
            setattr(m, name, p)


@contextmanager
def reference_rows(module: nn.Module, n_reference: int | None) -> Iterator[None]:
    """Inside the block, `TaskBatchNorm` layers of ``module`` take statistics from the
    first ``n_reference`` rows of each batch (None: from all rows).

    Examples
    --------
    >>> import torch
    >>> from skmeta.nn import Conv4, reference_rows
    >>> net = Conv4(in_channels=1)
    >>> support, query = torch.randn(5, 1, 28, 28), torch.randn(3, 1, 28, 28)
    >>> with reference_rows(net, n_reference=5):
    ...     z = net(torch.cat([support, query]))
    >>> with reference_rows(net, n_reference=5):
    ...     z_one = net(torch.cat([support, query[:1]]))
    >>> torch.allclose(z[5], z_one[5], atol=1e-5)   # a query row ignores the other queries
    True
    """
    with _task_norm_setting(module, "n_reference", lambda: n_reference):
        yield


@contextmanager
def carry_statistics(module: nn.Module) -> Iterator[None]:
    """Inside the block, each `TaskBatchNorm` layer of ``module`` takes its statistics from
    the first batch it normalises and normalises every later batch with them.

    Pass the support set first and the queries after: the queries are then normalised
    with the support set's statistics, as inside `reference_rows` with the two
    concatenated, and gradients reach the support through the statistics. Two passes
    allocate smaller feature maps than one pass over both, which glibc's allocator
    serves with fewer page faults (see ``benchmarks/protonet_vs_easyfsl.py``).

    Examples
    --------
    >>> import torch
    >>> from skmeta.nn import Conv4, carry_statistics, reference_rows
    >>> net = Conv4(in_channels=1)
    >>> support, query = torch.randn(5, 1, 28, 28), torch.randn(3, 1, 28, 28)
    >>> with carry_statistics(net):
    ...     z_support, z_query = net(support), net(query)
    >>> with reference_rows(net, n_reference=5):
    ...     z = net(torch.cat([support, query]))
    >>> torch.allclose(z[5:], z_query, atol=1e-5)
    True
    """
    with _task_norm_setting(module, "carried", list):  # a list of its own for each layer
        yield


@contextmanager
def vmap_safe(module: nn.Module) -> Iterator[None]:
    """Inside the block, `TaskBatchNorm` layers of ``module`` compute their statistics
    themselves: under ``torch.func.vmap``, ``F.batch_norm`` pools the statistics of all
    the vmapped tasks (measured: MAML meta-gradients off by up to 100%), which would
    leak information between tasks."""
    with _task_norm_setting(module, "vmapped", lambda: True):
        yield


def has_task_norm(module: nn.Module) -> bool:
    """Whether ``module`` normalises with batch statistics (its outputs depend on the batch)."""
    return any(isinstance(m, TaskBatchNorm) for m in module.modules())


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return TaskBatchNorm(channels)
    if kind == "layer":
        return nn.GroupNorm(1, channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}; got {kind!r}.")


def layer_sizes(sizes: int | Sequence[int], name: str = "hidden_layer_sizes") -> tuple[int, ...]:
    """``sizes`` as a tuple of positive ints (one int is one layer); a clear error otherwise.

    Examples
    --------
    >>> from skmeta.nn import layer_sizes
    >>> layer_sizes((40, 40)), layer_sizes(8)
    ((40, 40), (8,))
    """
    values = (sizes,) if isinstance(sizes, Integral) else sizes
    try:
        values = tuple(values)
    except TypeError:
        values = None
    if values is None or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in values
    ):
        raise ValueError(
            f"{name} must hold positive integers (the width of each hidden layer), e.g. "
            f"(64, 64); got {sizes!r}."
        )
    return tuple(int(s) for s in values)


def probe(module: nn.Module, shape: tuple[int, ...], what: str = "backbone") -> torch.Tensor:
    """The output of a user's ``module`` on a batch of two zero examples of ``shape``.

    Raises a ValueError that names the example shape when the module fails on it or does
    not return one tensor with a row per example. Buffers (e.g. running statistics) are
    left as they were.
    """
    saved = {k: v.clone() for k, v in module.named_buffers()}
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, *shape))
    except Exception as exc:  # the user's module: any error means the shapes do not fit
        raise ValueError(
            f"The {what} module {type(module).__name__} does not take the examples: called "
            f"on a batch of shape {(2, *shape)} (examples of shape {tuple(shape)}, as X "
            f"gives them) it raised {type(exc).__name__}: {exc}. Give a module whose input "
            "fits X's examples, or reshape X."
        ) from exc
    finally:
        for k, v in module.named_buffers():
            if k in saved:
                v.copy_(saved[k])
    if not isinstance(out, torch.Tensor) or out.dim() < 2 or out.shape[0] != 2:
        got = (
            f"a tensor of shape {tuple(out.shape)}"
            if isinstance(out, torch.Tensor)
            else f"a {type(out).__name__}"
        )
        raise ValueError(
            f"The {what} module {type(module).__name__} must return one tensor with a row "
            f"per example, of shape (n, ...); on a batch of shape {(2, *shape)} it returned "
            f"{got}. Wrap it to return a single tensor (e.g. the last output of a "
            "recurrent layer)."
        )
    return out


class MLP(nn.Sequential):
    """A fully connected ReLU network.

    Parameters
    ----------
    in_features : int
    hidden_layer_sizes : sequence of int, default=(64, 64)
    out_features : int, default=64
    norm : {"batch", "layer", "none"}, default="none"

    Examples
    --------
    >>> import torch
    >>> from skmeta.nn import MLP
    >>> MLP(3, hidden_layer_sizes=(40, 40), out_features=1)(torch.randn(7, 3)).shape
    torch.Size([7, 1])
    """

    def __init__(
        self,
        in_features: int,
        hidden_layer_sizes: Sequence[int] = (64, 64),
        out_features: int = 64,
        norm: str = "none",
    ) -> None:
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for h in layer_sizes(hidden_layer_sizes):
            layers += [nn.Linear(width, h), _norm(norm, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out_features))
        super().__init__(*(m for m in layers if not isinstance(m, nn.Identity)))


class Conv4(nn.Sequential):
    """The standard four-block convolutional backbone of few-shot learning.

    Each block is a 3x3 convolution (padding 1), a normalisation, a ReLU and a 2x2
    max-pool (Vinyals et al. 2016; Snell et al. 2017; Finn et al. 2017). A 28x28 input
    leaves a 1x1 map, so the embedding has ``out_channels`` features; larger inputs give
    ``out_channels * h * w`` features. The module pools before the ReLU: the same function
    (max and ReLU commute), with the ReLU on a quarter of the values.

    Parameters
    ----------
    in_channels : int, default=1
    hidden_channels : int, default=64
    out_channels : int, default=64
    norm : {"batch", "layer", "none"}, default="batch"
        "batch" is `TaskBatchNorm`: batch statistics of the current task, no running
        statistics.
    channels_last : bool, default=True
        Keep the weights and feature maps in the channels-last memory layout (NHWC); the
        outputs are the same. On CPU, oneDNN's convolutions are faster in that layout: a
        forward and backward pass over a 60-way Omniglot episode (360 images of 28x28)
        took 0.56x the time of the default layout with the ReLU before the pool, one
        thread. Adaptation by functional gradient steps gains nothing (second-order MAML:
        1.02x), so the MAML family builds its Conv-4 with ``channels_last=False``
        (``benchmarks/conv4_layout.py``).

    Examples
    --------
    >>> import torch
    >>> from skmeta.nn import Conv4
    >>> Conv4()(torch.randn(10, 1, 28, 28)).shape
    torch.Size([10, 64])
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden_channels: int = 64,
        out_channels: int = 64,
        norm: str = "batch",
        channels_last: bool = True,
    ) -> None:
        blocks: list[nn.Module] = []
        widths = [in_channels, hidden_channels, hidden_channels, hidden_channels, out_channels]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            blocks += [
                nn.Conv2d(c_in, c_out, kernel_size=3, padding=1),
                _norm(norm, c_out),
                nn.MaxPool2d(2),
                nn.ReLU(),
            ]
        blocks.append(nn.Flatten())
        super().__init__(*(m for m in blocks if not isinstance(m, nn.Identity)))
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(to_channels_last(x) if self.channels_last else x)


def to_channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in the channels-last layout when it is a plain 4-D batch of images.

    A tensor wrapped by a ``torch.func`` transform (``vmap`` cannot query layouts) is
    left as it is.
    """
    if x.dim() != 4 or torch._C._functorch.is_functorch_wrapped_tensor(x):
        return x
    return x.contiguous(memory_format=torch.channels_last)


BACKBONES = ("mlp", "conv4")


def image_shape(input_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The ``(C, H, W)`` shape a convolutional backbone sees for inputs of ``input_shape``.

    Accepts ``(H, W)``, ``(C, H, W)``, or a flat ``(H*W,)`` of a square grey image (so
    images flattened for a sklearn `Pipeline` still reach a CNN).

    Examples
    --------
    >>> from skmeta.nn import image_shape
    >>> image_shape((784,)), image_shape((28, 28)), image_shape((3, 84, 84))
    ((1, 28, 28), (1, 28, 28), (3, 84, 84))
    """
    if len(input_shape) == 3:
        return tuple(input_shape)  # type: ignore[return-value]
    if len(input_shape) == 2:
        return (1, *input_shape)  # type: ignore[return-value]
    side = math.isqrt(input_shape[0]) if len(input_shape) == 1 else 0
    if len(input_shape) == 1 and side * side == input_shape[0] and side >= 2:
        return (1, side, side)
    raise ValueError(
        f"A convolutional backbone needs images: X of shape (n, H, W) or (n, C, H, W), or "
        f"flattened square grey images (n, H*W); got examples of shape {tuple(input_shape)}. "
        "Use backbone='mlp' for tabular data."
    )


def network_input_shape(backbone: str | nn.Module, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-example shape ``make_backbone`` reshapes inputs of ``input_shape`` to.

    Examples
    --------
    >>> from skmeta.nn import network_input_shape
    >>> network_input_shape("mlp", (28, 28)), network_input_shape("conv4", (784,))
    ((784,), (1, 28, 28))
    """
    if backbone == "mlp":
        return (math.prod(input_shape),)
    if backbone == "conv4":
        shape = image_shape(tuple(input_shape))
        if min(shape[1:]) < 16:
            hint = "Use larger images or backbone='mlp'."
            if len(input_shape) == 3 and input_shape[-1] <= 4 < min(input_shape[:2]):
                hint = (
                    f"X looks like channels-last images (n, H, W, C) = (n, "
                    f"{', '.join(map(str, input_shape))}); skmeta takes (n, C, H, W): pass "
                    "X.transpose(0, 3, 1, 2)."
                )
            raise ValueError(
                f"Conv-4 halves the image four times and needs images of at least 16x16; got "
                f"{shape[1]}x{shape[2]} (examples of shape {tuple(input_shape)} are read as "
                f"(C, H, W) = {shape}). {hint}"
            )
        return shape
    return tuple(input_shape)


def _task_norm_layers(module: nn.Module) -> nn.Module:
    """``module`` with each of torch's batch-norm layers replaced by a `TaskBatchNorm`.

    torch's ``BatchNorm*d`` keeps running statistics: in training mode a query's output
    depends on the other queries of its batch (and one query alone fails), in evaluation
    mode on statistics from earlier tasks that a `Prior` does not carry. The replacement
    normalises with the statistics of the current task, as skmeta's own backbones do
    (non-transductive inside `carry_statistics` or `reference_rows`). It keeps the
    layer's ``eps`` and its affine weight and bias (as constant buffers of ones and zeros
    for ``affine=False``), so the parameter names do not change. Returns ``module``,
    changed in place (a bare batch-norm layer is returned replaced).
    """
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        layer = TaskBatchNorm(module.num_features, eps=module.eps)
        if module.affine:
            with torch.no_grad():
                layer.weight.copy_(module.weight)
                layer.bias.copy_(module.bias)
        else:
            del layer.weight, layer.bias
            layer.register_buffer("weight", torch.ones(module.num_features))
            layer.register_buffer("bias", torch.zeros(module.num_features))
        tensors = [*module.parameters(), *module.buffers()]
        return layer.to(tensors[0].device) if tensors else layer
    for name, child in list(module.named_children()):
        replaced = _task_norm_layers(child)
        if replaced is not child:
            setattr(module, name, replaced)
    return module


def make_backbone(
    backbone: str | nn.Module,
    input_shape: tuple[int, ...],
    *,
    embed_dim: int = 64,
    hidden_layer_sizes: Sequence[int] = (64, 64),
    channels_last: bool = True,
) -> tuple[nn.Module, tuple[int, ...]]:
    """Build the network named by ``backbone`` for inputs of ``input_shape``.

    Returns the module and the per-example shape it takes (inputs are reshaped to it).
    A user's `torch.nn.Module` is deep-copied and takes the inputs as they are; in the
    copy, each of torch's batch-norm layers (``BatchNorm1d/2d/3d``) becomes a
    `TaskBatchNorm` with the same affine parameters.
    ``channels_last`` is passed to `Conv4`.

    Examples
    --------
    >>> from skmeta.nn import make_backbone
    >>> net, shape = make_backbone("conv4", (28, 28), embed_dim=32)
    >>> shape
    (1, 28, 28)
    """
    if isinstance(backbone, nn.Module):
        network = copy.deepcopy(backbone)
        probe(network, tuple(input_shape))  # (materialises lazy layers first)
        return _task_norm_layers(network), tuple(input_shape)
    if backbone in BACKBONES:
        shape = network_input_shape(backbone, input_shape)
        if backbone == "mlp":
            return MLP(shape[0], layer_sizes(hidden_layer_sizes), embed_dim), shape
        return Conv4(shape[0], 64, embed_dim, channels_last=channels_last), shape
    raise ValueError(f"backbone must be one of {BACKBONES} or a torch.nn.Module; got {backbone!r}.")


def make_predictor(
    backbone: str | nn.Module,
    input_shape: tuple[int, ...],
    n_outputs: int,
    *,
    hidden_layer_sizes: Sequence[int] = (64, 64),
    embed_dim: int = 64,
    channels_last: bool = True,
) -> tuple[nn.Module, tuple[int, ...]]:
    """A backbone with a linear output layer: ``Sequential(body=..., head=Linear)``.

    The parameters are named ``body.*`` and ``head.*``, so that a learner can adapt the
    head alone (ANIL). For ``"mlp"`` the body is the hidden layers (each followed by a
    ReLU) and the head is the output layer, so ``hidden_layer_sizes=(40, 40)`` with one
    output is the 1-40-40-1 network of the MAML sinusoid experiments. For ``"conv4"`` and
    a user's module, the head reads the flattened embedding; ``channels_last`` is passed
    to `Conv4`.

    Returns the module and the per-example shape it takes.

    Examples
    --------
    >>> import torch
    >>> from skmeta.nn import make_predictor
    >>> net, shape = make_predictor("mlp", (1,), 1, hidden_layer_sizes=(40, 40))
    >>> [name for name, _ in net.named_parameters()][-2:], net(torch.zeros(3, 1)).shape
    (['head.weight', 'head.bias'], torch.Size([3, 1]))
    """
    if backbone == "mlp":
        shape = network_input_shape("mlp", input_shape)
        sizes = layer_sizes(hidden_layer_sizes)
        layers: list[nn.Module] = [nn.Flatten()]
        width = shape[0]
        for h in sizes:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        body: nn.Module = nn.Sequential(*layers)
    else:
        body, shape = make_backbone(
            backbone, input_shape, embed_dim=embed_dim, channels_last=channels_last
        )
        width = int(probe(body, shape).flatten(1).shape[1])
        body = nn.Sequential(body, nn.Flatten())
    return nn.Sequential(OrderedDict(body=body, head=nn.Linear(width, n_outputs))), shape
