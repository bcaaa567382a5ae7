"""MAML and its kin: learn an initialisation that adapts to a task in a few gradient steps.

Finn, Abbeel & Levine (2017): min_θ Σ_i L(θ − α∇L(θ, D_i^tr), D_i^ts). Variants in one
place: first-order MAML (``first_order=True``), Meta-SGD (``learn_inner_lr=True``: a
learned step size per parameter, Li et al. 2017) and ANIL (``adapt="head"``: only the
output layer adapts, Raghu et al. 2020).

The inner loop is functional: parameters are a dict run through ``torch.func``, and
tasks of one shape are batched with ``vmap`` (fast for small models on CPU, and on GPU)
or looped (faster for Conv-4 on CPU).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn
from torch.func import grad, vmap

from ..base import (
    MetaClassifierMixin,
    MetaEstimatorMixin,
    MetaRegressorMixin,
    PreparedTask,
)
from ..nn import BACKBONES, has_task_norm, make_predictor, reference_rows, vmap_safe

#: Prefix of the learned inner learning rates (Meta-SGD) inside the meta-parameters.
LR_PREFIX = "inner_lr:"


def _split(params: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Network parameters and learned inner learning rates."""
    weights = {k: v for k, v in params.items() if not k.startswith(LR_PREFIX)}
    lrs = {k[len(LR_PREFIX) :]: v for k, v in params.items() if k.startswith(LR_PREFIX)}
    return weights, lrs


class _GradientBasedLearner(MetaEstimatorMixin):
    """Adaptation by gradient steps from a meta-learned initialisation θ."""

    _parameter_constraints: dict = {
        **MetaEstimatorMixin._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES)), nn.Module],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "inner_lr": [Interval(Real, 0, None, closed="neither")],
        "n_inner_steps": [Interval(Integral, 1, None, closed="left")],
        "n_adapt_steps": [Interval(Integral, 0, None, closed="left"), None],
        "transductive": ["boolean"],
    }
    _architecture_params = ("backbone", "hidden_layer_sizes")

    # ----------------------------------------------------------- network
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        # Adaptation by functional gradient steps gains nothing from the channels-last
        # layout on CPU (second-order MAML: 1.02x the time of the default layout), unlike
        # plain forward and backward passes (0.56x): benchmarks/conv4_layout.py.
        return make_predictor(
            self.backbone,
            input_shape,
            n_outputs,
            hidden_layer_sizes=self.hidden_layer_sizes,
            channels_last=False,
        )

    def _adapted_names(self, weights: dict[str, torch.Tensor]) -> list[str]:
        if getattr(self, "adapt", "all") == "head":
            return [k for k in weights if k.startswith("head.")]
        return list(weights)

    def _loss(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self._is_classifier:
            return F.cross_entropy(outputs, y)
        return F.mse_loss(outputs.squeeze(-1), y)

    def _query_outputs(
        self, weights: dict[str, torch.Tensor], X_support: torch.Tensor, X_query: torch.Tensor
    ) -> torch.Tensor:
        """Outputs on the query set; batch-norm statistics from the support set unless
        ``transductive`` (then the queries share their own batch statistics)."""
        if self.transductive or not has_task_norm(self.network_):
            return self._forward(weights, X_query)
        n = X_support.shape[0]
        with reference_rows(self.network_, n):
            return self._forward(weights, torch.cat([X_support, X_query]))[n:]

    # -------------------------------------------------------- inner loop
    def _inner_loop(
        self,
        params: dict[str, torch.Tensor],
        X: torch.Tensor,
        y: torch.Tensor,
        n_steps: int,
        create_graph: bool,
    ) -> dict[str, torch.Tensor]:
        """φ = θ − α ∇L(θ, D) repeated ``n_steps`` times (autograd; one task)."""
        weights, lrs = _split(params)
        names = self._adapted_names(weights)
        for _ in range(n_steps):
            loss = self._loss(self._forward(weights, X), y)
            grads = torch.autograd.grad(
                loss, [weights[k] for k in names], create_graph=create_graph
            )
            weights = {
                **weights,
                **{k: weights[k] - lrs.get(k, self.inner_lr) * g for k, g in zip(names, grads)},
            }
        return weights

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        self._check_n_classes(params, n_classes)
        steps = self.n_inner_steps if self.n_adapt_steps is None else self.n_adapt_steps
        with torch.enable_grad():
            weights, lrs = _split(params)
            names = set(self._adapted_names(weights))
            start = {k: v.detach().requires_grad_(k in names) for k, v in weights.items()}
            start.update({LR_PREFIX + k: v.detach() for k, v in lrs.items()})
            adapted = self._inner_loop(start, X, y, steps, create_graph=False)
        state: dict[str, Any] = {"weights": {k: v.detach() for k, v in adapted.items()}}
        if has_task_norm(self.network_) and not self.transductive:
            state["X_support"] = X
        return state

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        support = state.get("X_support")
        if support is None:
            return self._forward(state["weights"], X)
        return self._query_outputs(state["weights"], support, X)

    def _check_n_classes(
        self, params: dict[str, torch.Tensor], n_classes: int, meta_training: bool = False
    ) -> None:
        if not self._is_classifier:
            return
        n_out = params["head.weight"].shape[0]
        if n_classes == n_out:
            return
        name = type(self).__name__
        if meta_training:
            raise ValueError(
                f"This {name} has n_way={n_out} (its output layer), but a meta-training task "
                f"has {n_classes} classes. Give {n_out}-way tasks (e.g. EpisodeSampler(..., "
                f"n_way={n_out})), or set n_way={n_classes}."
            )
        fix = f"Adapt with {n_out}-way support sets"
        if n_classes >= 2:
            fix += f", or meta-train with n_way={n_classes}"
        raise ValueError(
            f"This {name} has an output layer for n_way={n_out} classes (from meta-training "
            f"or its prior), but the support set has {n_classes}. {fix}."
        )

    def _meta_parameters(self, network: nn.Module) -> dict[str, torch.Tensor]:
        params = super()._meta_parameters(network)
        if getattr(self, "learn_inner_lr", False):
            adapted = self._adapted_names(params)
            params.update(
                {LR_PREFIX + k: torch.full_like(params[k], self.inner_lr) for k in adapted}
            )
        return params


class _MAMLLearner(_GradientBasedLearner):
    """The MAML outer loop: back-propagate the query loss through the inner loop."""

    def _architecture_config(self) -> dict[str, Any]:
        # Meta-SGD's learned step sizes are parameters of the prior, one per adapted
        # parameter: learn_inner_lr, and with it the adapted set (adapt), fix them. (A
        # plain MAML prior adapts with adapt="head" as well as "all".)
        config = {**super()._architecture_config(), "learn_inner_lr": self.learn_inner_lr}
        if self.learn_inner_lr:
            config["adapt"] = self.adapt
        return config

    def _params_from_prior(self, prior, fresh, net_shape, input_shape, device):
        steps = {k: v for k, v in fresh.items() if k.startswith(LR_PREFIX)}
        if not steps or any(k.startswith(LR_PREFIX) for k in prior.params):
            return super()._params_from_prior(prior, fresh, net_shape, input_shape, device)
        # Meta-SGD from a plain MAML prior: its weights, and the step sizes of a fresh
        # Meta-SGD network (every one inner_lr), to be meta-learned from there.
        weights = {k: v for k, v in fresh.items() if k not in steps}
        plain = {**self._architecture_config(), "learn_inner_lr": False}
        plain.pop("adapt")
        loaded = super()._params_from_prior(prior, weights, net_shape, input_shape, device, plain)
        return {**loaded, **steps}

    _parameter_constraints: dict = {
        **_GradientBasedLearner._parameter_constraints,
        "first_order": ["boolean"],
        "learn_inner_lr": ["boolean"],
        "adapt": [StrOptions({"all", "head"})],
        "batching": [StrOptions({"auto", "vmap", "loop"})],
        "task_chunk_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    # ----------------------------------------------------------- batching
    def _use_vmap(self, tasks: list[PreparedTask]) -> bool:
        if self.batching == "loop" or len(tasks) < 2:
            return False
        shapes = {(t.X_support.shape, t.X_query.shape) for t in tasks}
        if len(shapes) > 1:
            return False  # ragged tasks cannot be stacked
        if self.batching == "vmap":
            return True
        # Measured (benchmarks/maml_speed.py): vmap is several times faster for MLPs on
        # CPU, and slower for Conv-4 on CPU, where per-task convolutions are already large.
        on_gpu = tasks[0].X_support.device.type == "cuda"
        has_conv = any(isinstance(m, nn.Conv2d) for m in self.network_.modules())
        return on_gpu or not has_conv

    def _chunks(self, tasks: list[PreparedTask]) -> list[list[PreparedTask]]:
        size = self.task_chunk_size or len(tasks)
        return [tasks[i : i + size] for i in range(0, len(tasks), size)]

    def _meta_gradient(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[float, dict[str, float]]:
        total, correct, count = 0.0, 0.0, 0
        vmapped = self._use_vmap(tasks)
        for chunk in self._chunks(tasks):
            if vmapped:
                losses, outputs = self._batched_task_losses(params, chunk)
            else:
                pairs = [self._task_loss(params, t) for t in chunk]
                losses = torch.stack([loss for loss, _ in pairs])
                outputs = [out for _, out in pairs]
            # Back-propagate chunk by chunk: memory is bounded by task_chunk_size.
            (losses.sum() / len(tasks)).backward()
            total += float(losses.detach().sum())
            if self._is_classifier:
                for t, out in zip(chunk, outputs):
                    correct += float((out.argmax(-1) == t.y_query).sum())
                    count += t.y_query.shape[0]
        metrics = {"accuracy": correct / count} if self._is_classifier else {}
        return total / len(tasks), metrics

    def _task_loss(
        self, params: dict[str, torch.Tensor], task: PreparedTask
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Query loss after the inner loop, for one task (autograd path)."""
        self._check_n_classes(params, task.n_classes, meta_training=True)
        adapted = self._inner_loop(
            params,
            task.X_support,
            task.y_support,
            self.n_inner_steps,
            create_graph=not self.first_order,
        )
        outputs = self._query_outputs(adapted, task.X_support, task.X_query)
        return self._loss(outputs, task.y_query), outputs.detach()

    def _batched_task_losses(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Query losses of same-shaped tasks, the inner loop vectorised with vmap."""
        for t in tasks:
            self._check_n_classes(params, t.n_classes, meta_training=True)
        weights, lrs = _split(params)
        names = self._adapted_names(weights)
        fixed = {k: v for k, v in weights.items() if k not in names}

        def support_loss(adapted, x, y):
            return self._loss(self._forward({**fixed, **adapted}, x), y)

        def one_task(adapted, xs, ys, xq, yq):
            for _ in range(self.n_inner_steps):
                g = grad(support_loss)(adapted, xs, ys)
                if self.first_order:
                    g = {k: v.detach() for k, v in g.items()}
                adapted = {k: adapted[k] - lrs.get(k, self.inner_lr) * g[k] for k in adapted}
            out = self._query_outputs({**fixed, **adapted}, xs, xq)
            return self._loss(out, yq), out

        stack = lambda name: torch.stack([getattr(t, name) for t in tasks])  # noqa: E731
        adapted0 = {k: weights[k] for k in names}
        with vmap_safe(self.network_):
            # randomness="different": a user's dropout draws its own mask for each task
            losses, outputs = vmap(one_task, in_dims=(None, 0, 0, 0, 0), randomness="different")(
                adapted0,
                stack("X_support"),
                stack("y_support"),
                stack("X_query"),
                stack("y_query"),
            )
        return losses, outputs.detach()


_MAML_PARAMS_DOC = """
    backbone : {"mlp", "conv4"} or torch.nn.Module, default="mlp"
        The network body; a linear output layer (the "head") is added on top. "mlp" has
        ``hidden_layer_sizes``; "conv4" takes images ((n, H, W), (n, C, H, W) or flattened
        squares); a module of yours maps a batch of inputs to a batch of features.
    hidden_layer_sizes : tuple of int
        Hidden widths of the MLP body.
    inner_lr : float
        Step size α of the inner loop (the initial value of the learned step sizes when
        ``learn_inner_lr=True``).
    n_inner_steps : int, default=1
        Gradient steps of the inner loop during meta-training.
    n_adapt_steps : int, default=None
        Gradient steps at `fit` (adaptation to a new task); None uses ``n_inner_steps``.
        MAML papers often take more steps at test time (e.g. 3 or 10).
    first_order : bool, default=False
        First-order MAML: drop the second-order terms of the meta-gradient.
    learn_inner_lr : bool, default=False
        Meta-SGD: meta-learn one step size per parameter entry.
    adapt : {"all", "head"}, default="all"
        Which parameters the inner loop adapts: all, or the output layer only (ANIL).
    transductive : bool, default=False
        Whether query examples may share batch-norm statistics. When False, a
        batch-normalised body takes statistics from the support set only.
    batching : {"auto", "vmap", "loop"}, default="auto"
        How the tasks of a meta-batch run: vectorised with ``torch.func.vmap`` or one by
        one. "auto" uses vmap on GPU and for networks without convolutions, and loops for
        convolutional networks on CPU (measured faster there).
    task_chunk_size : int, default=None
        Tasks back-propagated at once; bounds memory for large meta-batches (None: all).
    meta_lr : float, default=1e-3
        Adam learning rate of the outer loop.
    n_meta_iterations : int, default=1000
        Meta-updates in `meta_fit`.
    meta_batch_size : int
        Tasks per meta-update.
    validation_interval : int, default=100
        Meta-updates between two scorings of ``validation_tasks``.
    patience : int, default=None
        Stop after this many validations without improvement.
    prior : Prior, str or path-like, default=None
        A meta-trained prior to adapt from and to start meta-training from.
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
"""


class MAMLClassifier(MetaClassifierMixin, _MAMLLearner, BaseEstimator):
    __doc__ = f"""Model-Agnostic Meta-Learning for few-shot classification.

    Meta-training learns an initialisation θ of a network with an ``n_way``-output head
    such that a few gradient steps on a new task's support set do well on its query set.
    `fit` takes ``n_adapt_steps`` gradient steps from θ on the support set; without
    `meta_fit`, from a fresh initialisation (the network is then sized to the support
    set's classes: a small network trained by its inner loop).

    Parameters
    ----------
    n_way : int, default=5
        Classes per task. A meta-trained estimator adapts to ``n_way``-way tasks only.
    n_shot : int, default=1
        Support examples per class in meta-training episodes drawn from a pool.
    n_query : int, default=15
        Query examples per class in meta-training episodes drawn from a pool.
    {_MAML_PARAMS_DOC}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-learned initialisation θ* (and step sizes ``inner_lr:*`` for Meta-SGD).
    meta_history_ : list of dict
        Per meta-update: ``loss``, ``accuracy`` (query, after adaptation), ``time``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int

    References
    ----------
    C. Finn, P. Abbeel and S. Levine. "Model-Agnostic Meta-Learning for Fast Adaptation
    of Deep Networks". ICML 2017. Z. Li et al. "Meta-SGD". 2017. A. Raghu et al. "Rapid
    Learning or Feature Reuse?" (ANIL). ICLR 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import MAMLClassifier
    >>> X, y = make_blobs(600, centers=30, n_features=8, random_state=0)
    >>> clf = MAMLClassifier(n_way=3, n_query=5, n_meta_iterations=20, inner_lr=0.1,
    ...                      random_state=0).meta_fit(X, y)
    >>> clf.fit(X[y < 3][:9], y[y < 3][:9]).predict(X[:2]).shape
    (2,)
    """

    # the meta-trained head has n_way outputs: a prior fixes n_way
    _architecture_params = ("backbone", "hidden_layer_sizes", "n_way")
    _parameter_constraints: dict = {
        **_MAMLLearner._parameter_constraints,
        **MetaClassifierMixin._episode_constraints,
    }

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        inner_lr: float = 0.4,
        n_inner_steps: int = 1,
        n_adapt_steps: int | None = None,
        first_order: bool = False,
        learn_inner_lr: bool = False,
        adapt: str = "all",
        transductive: bool = False,
        batching: str = "auto",
        task_chunk_size: int | None = None,
        meta_lr: float = 1e-3,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 4,
        validation_interval: int = 100,
        patience: int | None = None,
        prior: Any = None,
        device: str | torch.device = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.backbone = backbone
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.hidden_layer_sizes = hidden_layer_sizes
        self.inner_lr = inner_lr
        self.n_inner_steps = n_inner_steps
        self.n_adapt_steps = n_adapt_steps
        self.first_order = first_order
        self.learn_inner_lr = learn_inner_lr
        self.adapt = adapt
        self.transductive = transductive
        self.batching = batching
        self.task_chunk_size = task_chunk_size
        self.meta_lr = meta_lr
        self.n_meta_iterations = n_meta_iterations
        self.meta_batch_size = meta_batch_size
        self.validation_interval = validation_interval
        self.patience = patience
        self.prior = prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        # Without meta-training, fit is n_adapt_steps (default 1) gradient steps from a
        # random initialisation: a deliberately weak learner, not a converged classifier.
        tags.classifier_tags.poor_score = True
        return tags


class MAMLRegressor(MetaRegressorMixin, _MAMLLearner, BaseEstimator):
    __doc__ = f"""Model-Agnostic Meta-Learning for few-shot regression.

    Defaults follow the sinusoid experiments of Finn et al. (2017): a 1-40-40-1 ReLU
    network, inner step size 0.01, one inner step, 25 tasks per meta-update.

    Parameters
    ----------
    {_MAML_PARAMS_DOC}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
    meta_history_ : list of dict
        Per meta-update: ``loss`` (query MSE after adaptation) and ``time``.
    n_features_in_ : int

    Examples
    --------
    >>> from skmeta import MAMLRegressor
    >>> from skmeta.datasets import SinusoidTasks
    >>> reg = MAMLRegressor(n_meta_iterations=50, random_state=0)
    >>> reg = reg.meta_fit(SinusoidTasks(n_support=10, random_state=0))
    >>> task = SinusoidTasks(n_support=10, random_state=1).sample(1)[0]
    >>> reg.fit(task.X_support, task.y_support).predict(task.X_query).shape
    (10,)
    """

    _parameter_constraints: dict = dict(_MAMLLearner._parameter_constraints)

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        hidden_layer_sizes: tuple[int, ...] = (40, 40),
        inner_lr: float = 0.01,
        n_inner_steps: int = 1,
        n_adapt_steps: int | None = None,
        first_order: bool = False,
        learn_inner_lr: bool = False,
        adapt: str = "all",
        transductive: bool = False,
        batching: str = "auto",
        task_chunk_size: int | None = None,
        meta_lr: float = 1e-3,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 25,
        validation_interval: int = 100,
        patience: int | None = None,
        prior: Any = None,
        device: str | torch.device = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.backbone = backbone
        self.hidden_layer_sizes = hidden_layer_sizes
        self.inner_lr = inner_lr
        self.n_inner_steps = n_inner_steps
        self.n_adapt_steps = n_adapt_steps
        self.first_order = first_order
        self.learn_inner_lr = learn_inner_lr
        self.adapt = adapt
        self.transductive = transductive
        self.batching = batching
        self.task_chunk_size = task_chunk_size
        self.meta_lr = meta_lr
        self.n_meta_iterations = n_meta_iterations
        self.meta_batch_size = meta_batch_size
        self.validation_interval = validation_interval
        self.patience = patience
        self.prior = prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.regressor_tags.poor_score = True  # see MAMLClassifier
        return tags
