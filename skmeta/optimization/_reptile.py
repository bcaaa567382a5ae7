"""Reptile (Nichol, Achiam & Schulman, 2018): move θ towards the weights adapted to tasks.

For each task of a meta-batch, k steps of SGD from θ on the task's data give φ_i; the
meta-update moves θ towards their mean, θ ← θ + ε (mean_i φ_i − θ). No second-order
terms, no gradient through the inner loop. It is written here as the gradient of the
surrogate ½ Σ ||θ − stop_grad(φ_i)||² / n, fed to plain SGD at ``meta_lr`` = ε.
"""

from __future__ import annotations

from typing import Any

import torch
from sklearn.base import BaseEstimator
from torch import nn

from ..base import MetaClassifierMixin, MetaRegressorMixin, PreparedTask
from ._maml import _GradientBasedLearner


class _ReptileLearner(_GradientBasedLearner):
    """The Reptile outer loop."""

    _parameter_constraints: dict = dict(_GradientBasedLearner._parameter_constraints)

    def _make_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        return torch.optim.SGD(params, lr=self.meta_lr)

    def _meta_gradient(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[float, dict[str, float]]:
        losses = []
        for task in tasks:
            self._check_n_classes(params, task.n_classes, meta_training=True)
            # Reptile adapts on all of the task's data: support and query together.
            X = torch.cat([task.X_support, task.X_query])
            y = torch.cat([task.y_support, task.y_query])
            with torch.enable_grad():
                start = {k: v.detach().requires_grad_(True) for k, v in params.items()}
                adapted = self._inner_loop(start, X, y, self.n_inner_steps, create_graph=False)
                with torch.no_grad():
                    losses.append(float(self._loss(self._forward(adapted, X), y)))
            for k, theta in params.items():
                step = (theta.detach() - adapted[k].detach()) / len(tasks)
                theta.grad = step if theta.grad is None else theta.grad + step
        return float(sum(losses) / len(losses)), {}


_REPTILE_PARAMS_DOC = """
    backbone : {"mlp", "conv4"} or torch.nn.Module, default="mlp"
        The network body, with a linear output layer on top.
    hidden_layer_sizes : tuple of int
        Hidden widths of the MLP body.
    inner_lr : float
        SGD step size of the inner loop (and of adaptation at `fit`).
    n_inner_steps : int
        SGD steps on each task during meta-training.
    n_adapt_steps : int, default=None
        SGD steps on the support set at `fit`; None uses ``n_inner_steps``.
    transductive : bool, default=False
        Whether query examples may share batch-norm statistics.
    meta_lr : float, default=1.0
        The outer step size ε: θ moves this fraction of the way towards the mean adapted
        weights (plain SGD on the Reptile direction).
    n_meta_iterations : int, default=1000
    meta_batch_size : int, default=5
    validation_interval : int, default=100
    patience : int, default=None
    prior : Prior, str or path-like, default=None
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
"""


class ReptileClassifier(MetaClassifierMixin, _ReptileLearner, BaseEstimator):
    __doc__ = f"""Reptile for few-shot classification.

    A first-order alternative to `MAMLClassifier`: cheaper per meta-update (no backward
    pass through the inner loop), usually needing more inner steps.

    Parameters
    ----------
    n_way : int, default=5
        Classes per task; a meta-trained estimator adapts to ``n_way``-way tasks.
    n_shot : int, default=1
    n_query : int, default=15
    {_REPTILE_PARAMS_DOC}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
    meta_history_ : list of dict
        Per meta-update: ``loss`` (training loss of the adapted weights) and ``time``.
    classes_ : ndarray of shape (n_classes,)

    References
    ----------
    A. Nichol, J. Achiam and J. Schulman. "On First-Order Meta-Learning Algorithms". 2018.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import ReptileClassifier
    >>> X, y = make_blobs(600, centers=30, n_features=8, random_state=0)
    >>> clf = ReptileClassifier(n_way=3, n_query=5, n_meta_iterations=20,
    ...                         random_state=0).meta_fit(X, y)
    >>> clf.fit(X[y < 3][:9], y[y < 3][:9]).predict(X[:2]).shape
    (2,)
    """

    # the meta-trained head has n_way outputs: a prior fixes n_way
    _architecture_params = ("backbone", "hidden_layer_sizes", "n_way")
    _parameter_constraints: dict = {
        **_ReptileLearner._parameter_constraints,
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
        inner_lr: float = 0.1,
        n_inner_steps: int = 5,
        n_adapt_steps: int | None = None,
        transductive: bool = False,
        meta_lr: float = 1.0,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 5,
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
        self.transductive = transductive
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
        # Without meta-training, fit is a few SGD steps from a random initialisation.
        tags.classifier_tags.poor_score = True
        return tags


class ReptileRegressor(MetaRegressorMixin, _ReptileLearner, BaseEstimator):
    __doc__ = f"""Reptile for few-shot regression.

    Parameters
    ----------
    {_REPTILE_PARAMS_DOC}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
    meta_history_ : list of dict

    Examples
    --------
    >>> from skmeta import ReptileRegressor
    >>> from skmeta.datasets import SinusoidTasks
    >>> reg = ReptileRegressor(n_meta_iterations=20, random_state=0)
    >>> reg = reg.meta_fit(SinusoidTasks(n_support=10, random_state=0))
    >>> task = SinusoidTasks(n_support=10, random_state=1).sample(1)[0]
    >>> reg.fit(task.X_support, task.y_support).predict(task.X_query).shape
    (10,)
    """

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        hidden_layer_sizes: tuple[int, ...] = (40, 40),
        inner_lr: float = 0.02,
        n_inner_steps: int = 10,
        n_adapt_steps: int | None = None,
        transductive: bool = False,
        meta_lr: float = 1.0,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 5,
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
        self.transductive = transductive
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
        tags.regressor_tags.poor_score = True  # see ReptileClassifier
        return tags
