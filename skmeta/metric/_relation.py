"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales, 2018)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin
from ..nn import MLP
from ._common import (
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _class_means,
    _embedding_width,
    _EncoderWithHead,
    _SupportComparisonMixin,
)


class RelationNetClassifier(
    _SupportComparisonMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    __doc__ = f"""Relation Networks: a learned module scores how related a query is to each class.

    An encoder f_θ embeds examples; the representation of class k is the mean embedding of
    its support examples, c_k; a relation module g_φ reads the concatenation
    [f_θ(x̂), c_k] and outputs a relation score r_k = σ(g_φ(...)) in [0, 1]. Meta-training
    regresses the scores on the one-hot query labels with a mean squared error, as in the
    paper; the metric itself is learned, not fixed. `fit` only embeds the support set.
    Without `meta_fit`, the encoder and the relation module are random: a valid but weak
    classifier.

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

    relation_layer_sizes : tuple of int, default=(64,)
        Hidden widths of the relation module, an MLP on the concatenated pair of
        embeddings with one output.

    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained parameters θ* (after `meta_fit`): the encoder's (``encoder.*``)
        and the relation module's (``head.*``).
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
    ProtoNetClassifier : the same class means, compared by a fixed distance.
    skmeta.evaluation.evaluate : mean accuracy with a 95% confidence interval over tasks.

    Notes
    -----
    The paper's Conv-4 relation module is two convolution blocks and two fully connected
    layers over concatenated feature maps. Here every backbone ends in a flat embedding,
    and the relation module is an MLP over the concatenated embeddings (for Conv-4 on
    28x28 images, the 64 channels of the 1x1 map). Class representations are means, not
    the paper's sums, so that `fit` handles classes with different numbers of shots.
    `predict_proba` normalises the relation scores: P(y = k | x̂) = r_k / Σ_j r_j.

    References
    ----------
    F. Sung, Y. Yang, L. Zhang, T. Xiang, P. H. S. Torr and T. M. Hospedales. "Learning
    to Compare: Relation Network for Few-Shot Learning". CVPR 2018.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import RelationNetClassifier
    >>> X, y = make_blobs(n_samples=200, centers=10, n_features=8, random_state=0)
    >>> clf = RelationNetClassifier(n_query=5, n_meta_iterations=5, random_state=0)
    >>> clf = clf.meta_fit(X[y < 7], y[y < 7])     # meta-train on classes 0..6
    >>> new = y >= 7                                # adapt to the unseen classes 7..9
    >>> clf.fit(X[new][:6], y[new][:6]).relation_scores(X[new][6:8]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        **_METRIC_CONSTRAINTS,
        "relation_layer_sizes": ["array-like"],
    }
    _architecture_params = ("backbone", "embed_dim", "hidden_layer_sizes", "relation_layer_sizes")

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
        relation_layer_sizes: tuple[int, ...] = (64,),
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
        self.relation_layer_sizes = relation_layer_sizes

    # ----------------------------------------------------------------- maths
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        encoder, shape = super()._build_network(input_shape, n_outputs)
        width = _embedding_width(encoder, shape)
        relation = MLP(2 * width, tuple(self.relation_layer_sizes), 1)
        return _EncoderWithHead(encoder, relation), shape

    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        """log r_k of each query and class."""
        prototypes = _class_means(z_s, y_s, n_classes)
        n_query, width = z_q.shape
        pairs = torch.cat(
            [
                z_q.unsqueeze(1).expand(-1, n_classes, -1),
                prototypes.unsqueeze(0).expand(n_query, -1, -1),
            ],
            dim=2,
        )
        relation = self._head(params, pairs.reshape(-1, 2 * width)).view(n_query, n_classes)
        return F.logsigmoid(relation)

    def _task_loss(self, params, z_s, y_s, n_classes, z_q, y_q):
        log_r = self._compare(params, z_s, y_s, n_classes, z_q)
        target = F.one_hot(y_q, n_classes).to(log_r.dtype)
        return F.mse_loss(log_r.exp(), target), log_r

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Without meta_fit the relation module is random: its scores carry little of the
        # support set, so the accuracy on an ordinary data set is poor by design.
        tags.classifier_tags.poor_score = True
        return tags

    def relation_scores(self, X: Any) -> np.ndarray:
        """The relation score r_k in [0, 1] of each query to each class of the adapted task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``.
        """
        return self._support_output(X, lambda *args: self._compare(*args).exp())
