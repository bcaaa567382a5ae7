"""Siamese Networks for one-shot recognition (Koch, Zemel & Salakhutdinov, 2015)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin
from ._common import (
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _embedding_width,
    _EncoderWithHead,
    _SupportComparisonMixin,
)


class SiameseClassifier(
    _SupportComparisonMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    __doc__ = f"""Siamese Networks: a verification network that classifies by the most similar shot.

    A twin encoder f_θ embeds both examples of a pair; their similarity is
    ``p(x, x') = σ(Σ_j α_j |f_θ(x)_j − f_θ(x')_j| + b)``, a learned weighted L1 distance.
    Meta-training is verification: every support × query pair of each episode is labelled
    same class or different, with a binary cross-entropy. `fit` stores the embedded support
    set; a query takes the class of its most similar support example. Without `meta_fit`,
    the weights α start at −1/d, so the estimator is a 1-nearest-neighbour classifier (L1)
    in a random feature space.

    Parameters
    ----------
    backbone : {{"mlp", "conv4"}} or torch.nn.Module, default="mlp"
        The encoder: an MLP with ``hidden_layer_sizes``, the Conv-4 of few-shot learning
        (images: X of shape (n, H, W), (n, C, H, W), or flattened square images), or a
        module of yours mapping a batch of inputs to a batch of embeddings.
    n_way : int, default=5
        Classes per meta-training episode. `fit` takes any number of classes.
    n_shot : int, default=1
        Support examples per class in meta-training episodes.
    n_query : int, default=15
        Query examples per class in meta-training episodes.
    embed_dim : int, default=64
        Embedding size (output channels of Conv-4, output width of the MLP).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the MLP backbone.
    transductive : bool, default=False
        Whether query examples may share normalisation statistics with each other. When
        False, batch-normalised backbones take statistics from the support set only, so a
        query's prediction never depends on the other queries.
{_META_TRAINING_DOC}

    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained parameters θ* (after `meta_fit`): the encoder's (``encoder.*``)
        and the distance weights α, b (``head.*``).
    meta_history_ : list of dict
        One record per meta-update: ``loss``, ``accuracy`` (on the episode's queries),
        ``time`` in seconds, and ``val_score`` when validation ran.
    n_meta_iter_ : int
        Meta-updates done.
    classes_ : ndarray of shape (n_classes,)
        Labels of the support set given to `fit`.
    n_features_in_ : int
        Features seen at `fit` (pixels, for images).

    See Also
    --------
    MatchingNetClassifier : a soft vote over all support examples instead of the best one.
    skmeta.evaluation.evaluate : mean accuracy with a 95% confidence interval over tasks.

    Notes
    -----
    The score of class k is the similarity to its most similar support example (Koch et
    al.'s one-shot rule, extended to several shots by the maximum), and `predict_proba`
    normalises these: P(y = k | x̂) ∝ max_{{i: y_i = k}} p(x̂, x_i). Koch et al. train on
    pairs drawn from a pool with regularised SGD; here the pairs come from the episodes of
    `meta_fit` (n_way · n_shot · n_way · n_query pairs each, 1 in n_way of them positive).

    References
    ----------
    G. Koch, R. Zemel and R. Salakhutdinov. "Siamese Neural Networks for One-shot Image
    Recognition". ICML Deep Learning Workshop, 2015.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import SiameseClassifier
    >>> X, y = make_blobs(n_samples=200, centers=10, n_features=8, random_state=0)
    >>> clf = SiameseClassifier(n_query=5, n_meta_iterations=5, random_state=0)
    >>> clf = clf.meta_fit(X[y < 7], y[y < 7])     # meta-train on classes 0..6
    >>> new = y >= 7                                # adapt to the unseen classes 7..9
    >>> clf.fit(X[new][:6], y[new][:6]).similarity(X[new][6:8]).shape
    (2, 6)
    """

    _parameter_constraints: dict = {**_METRIC_CONSTRAINTS}
    _architecture_params = ("backbone", "embed_dim", "hidden_layer_sizes")

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        embed_dim: int = 64,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        transductive: bool = False,
        meta_lr: float = 1e-3,
        meta_lr_decay_interval: int | None = None,
        meta_lr_decay: float = 0.5,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 1,
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
        self.embed_dim = embed_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.transductive = transductive
        self.meta_lr = meta_lr
        self.meta_lr_decay_interval = meta_lr_decay_interval
        self.meta_lr_decay = meta_lr_decay
        self.n_meta_iterations = n_meta_iterations
        self.meta_batch_size = meta_batch_size
        self.validation_interval = validation_interval
        self.patience = patience
        self.prior = prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- maths
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        encoder, shape = super()._build_network(input_shape, n_outputs)
        width = _embedding_width(encoder, shape)
        distance = nn.Linear(width, 1)
        with torch.no_grad():
            # Start as the negative mean L1 distance: an untrained network is 1-NN.
            distance.weight.fill_(-1.0 / width)
            distance.bias.zero_()
        return _EncoderWithHead(encoder, distance), shape

    def _pair_logits(self, params, z_s, z_q) -> torch.Tensor:
        """Logits of p(x̂, x_i) for every query and support example."""
        diff = (z_q.unsqueeze(1) - z_s.unsqueeze(0)).abs()
        return self._head(params, diff.reshape(-1, z_q.shape[1])).view(z_q.shape[0], -1)

    @staticmethod
    def _best_shot(logits: torch.Tensor, y_s: torch.Tensor, n_classes: int) -> torch.Tensor:
        """log max_{i: y_i = k} p(x̂, x_i) for every query and class."""
        outside = F.one_hot(y_s, n_classes).T.unsqueeze(0) == 0
        best = logits.unsqueeze(1).masked_fill(outside, -torch.inf).amax(dim=2)
        return F.logsigmoid(best)

    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        return self._best_shot(self._pair_logits(params, z_s, z_q), y_s, n_classes)

    def _task_loss(self, params, z_s, y_s, n_classes, z_q, y_q):
        logits = self._pair_logits(params, z_s, z_q)
        same = (y_q.unsqueeze(1) == y_s.unsqueeze(0)).to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits, same)
        return loss, self._best_shot(logits, y_s, n_classes)

    def similarity(self, X: Any) -> np.ndarray:
        """The similarity p(x̂, x_i) in [0, 1] of each query to each support example.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        similarity : ndarray of shape (n_samples, n_support)
            Columns follow the rows of the support set given to `fit`.
        """
        return self._support_output(
            X,
            lambda params, z_s, y_s, n_classes, z_q: self._pair_logits(params, z_s, z_q).sigmoid(),
        )
