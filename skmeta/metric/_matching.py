"""Matching Networks (Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra, 2016)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin
from ._common import _META_TRAINING_DOC, _METRIC_CONSTRAINTS, _SupportComparisonMixin

# Cosine similarities lie in [-1, 1], and a softmax over them is nearly flat, so they are
# scaled, as ProtoNet's cosine distance is (a fixed temperature; the paper's FCE-free
# attention has none, which trains slowly).
_COSINE_SCALE = 10.0


def _log_attention(z_support: torch.Tensor, z_query: torch.Tensor) -> torch.Tensor:
    """log a(x̂, x_i): a log-softmax over the support of scaled cosine similarities."""
    # In float64: float32 products differ in the last bit with the number of query rows
    # (BLAS blocks them differently), and a query's scores must not depend on its batch.
    cosine = F.normalize(z_query.double(), dim=1) @ F.normalize(z_support.double(), dim=1).T
    return F.log_softmax(_COSINE_SCALE * cosine, dim=1)


class MatchingNetClassifier(
    _SupportComparisonMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    __doc__ = f"""Matching Networks: a query's label is an attention-weighted vote of the support.

    An encoder f_θ embeds examples; a query x̂ attends to every support example x_i with
    weight a(x̂, x_i) = softmax_i(s · cos(f_θ(x̂), f_θ(x_i))), and its class probabilities
    are P(y = k | x̂) = Σ_i a(x̂, x_i) [y_i = k] — a differentiable, weighted nearest
    neighbour. `meta_fit` learns θ on episodes by the query cross-entropy; `fit` only
    embeds the support set. Without `meta_fit`, the estimator is a soft nearest-neighbour
    classifier in a random feature space.

    Full-context embeddings (the paper's optional bidirectional LSTM over the support and
    attention LSTM over the queries) are not implemented: the embeddings are the encoder's.

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
        The meta-trained encoder parameters θ* (after `meta_fit`).
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
    ProtoNetClassifier : compares queries to class means instead of to every example.
    skmeta.evaluation.evaluate : mean accuracy with a 95% confidence interval over tasks.

    Notes
    -----
    The cosine similarities are multiplied by a fixed scale s = 10 before the softmax:
    unscaled, the attention over cosines in [-1, 1] is nearly uniform and learns slowly.

    References
    ----------
    O. Vinyals, C. Blundell, T. Lillicrap, K. Kavukcuoglu and D. Wierstra. "Matching
    Networks for One Shot Learning". NeurIPS 2016.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import MatchingNetClassifier
    >>> X, y = make_blobs(n_samples=200, centers=10, n_features=8, random_state=0)
    >>> clf = MatchingNetClassifier(n_query=5, n_meta_iterations=5, random_state=0)
    >>> clf = clf.meta_fit(X[y < 7], y[y < 7])     # meta-train on classes 0..6
    >>> new = y >= 7                                # adapt to the unseen classes 7..9
    >>> clf.fit(X[new][:6], y[new][:6]).attention_weights(X[new][6:8]).sum(axis=1).round(4)
    array([1., 1.])
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
        self.n_meta_iterations = n_meta_iterations
        self.meta_batch_size = meta_batch_size
        self.validation_interval = validation_interval
        self.patience = patience
        self.prior = prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- maths
    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        # log Σ_i a_i [y_i = k], computed as a log-sum-exp over each class's support rows.
        in_class = F.one_hot(y_s, n_classes).to(z_q.dtype).log()
        return torch.logsumexp(_log_attention(z_s, z_q).unsqueeze(2) + in_class, dim=1)

    def attention_weights(self, X: Any) -> np.ndarray:
        """The attention a(x̂, x_i) of each query over the support set of the adapted task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        attention : ndarray of shape (n_samples, n_support)
            Each row sums to 1; columns follow the rows of the support set given to `fit`.
        """
        return self._support_output(
            X, lambda params, z_s, y_s, n_classes, z_q: _log_attention(z_s, z_q).exp()
        )
