"""Relation Networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales, 2018)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import StrOptions
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin
from ..nn import MLP, Conv4, layer_sizes, network_input_shape
from ..nn._backbones import probe
from ._common import (
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _PREDICT_CHUNK,
    _class_means,
    _EncoderWithHead,
    _SupportComparisonMixin,
)

# Channels of the convolutional relation module's blocks (Sung et al.: 64).
_RELATION_CHANNELS = 64
# Query-class pairs through the convolutional relation module per pass at prediction time.
_PAIRS_PER_PASS = 4096


def _feature_map_encoder(in_channels: int, out_channels: int) -> nn.Sequential:
    """Sung et al.'s embedding module: Conv-4 without the max-pools of its last two blocks
    and without flattening, so that the relation module compares spatial feature maps
    (7x7 for 28x28 images, 21x21 for 84x84)."""
    layers = list(Conv4(in_channels, 64, out_channels))[:-1]  # all but the Flatten
    pools = [i for i, m in enumerate(layers) if isinstance(m, nn.MaxPool2d)]
    return nn.Sequential(*(m for i, m in enumerate(layers) if i not in pools[2:]))


class _ConvRelation(nn.Module):
    """Sung et al.'s relation module for feature maps: two blocks of 3x3 convolution,
    normalisation, ReLU and 2x2 max-pool over a query's and a class's maps stacked by
    channel, then two fully connected layers with one output (the relation logit).

    The paper normalises with batch statistics; the batch here is every query-class pair,
    so a query's scores would depend on the other queries. A per-pair normalisation
    (layer normalisation over channels and positions: ``GroupNorm(1, C)``) keeps each
    pair to itself.

    The first convolution is linear in its input, and its input is two maps stacked by
    channel, so it splits into a convolution of the query's map and one of the class's:
    ``conv([q; c]) = conv_q(q) + conv_c(c)`` (the weight's two halves; zero padding is per
    channel, so the split is exact). `forward` therefore convolves each query and each
    class once and adds the results pairwise, instead of convolving every stacked pair:
    for n queries and k classes, n + k convolutions in place of n k, the costliest step
    of the module (``benchmarks/relation_module.py``).
    """

    def __init__(self, channels: int, height: int, width: int, hidden: tuple[int, ...]):
        super().__init__()
        blocks: list[nn.Module] = []
        c_in = 2 * channels
        for _ in range(2):
            blocks += [
                nn.Conv2d(c_in, _RELATION_CHANNELS, kernel_size=3, padding=1),
                nn.GroupNorm(1, _RELATION_CHANNELS),
                nn.MaxPool2d(2),  # before the ReLU: the same function, a quarter of the work
                nn.ReLU(),
            ]
            c_in = _RELATION_CHANNELS
        self.blocks = nn.Sequential(*blocks)
        self.fc = MLP(_RELATION_CHANNELS * (height // 4) * (width // 4), hidden, 1)

    def forward(self, queries: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Relation logits, shape (n_queries, n_classes), of maps (n, C, H, W) and (k, C, H, W)."""
        first, *rest = self.blocks
        channels = queries.shape[1]
        q = F.conv2d(queries, first.weight[:, :channels], first.bias, padding=1)
        c = F.conv2d(classes, first.weight[:, channels:], None, padding=1)
        h = (q.unsqueeze(1) + c.unsqueeze(0)).flatten(0, 1)  # every (query, class) pair
        for module in rest:
            h = module(h)
        return self.fc(h).view(queries.shape[0], classes.shape[0])

    def forward_stacked(self, pairs: torch.Tensor) -> torch.Tensor:
        """The module as the paper writes it, on stacked pairs (n, 2C, H, W): the reference
        that `forward` computes faster."""
        return self.fc(self.blocks(pairs)).squeeze(1)


class RelationNetClassifier(
    _SupportComparisonMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator
):
    __doc__ = f"""Relation Networks: a learned module scores how related a query is to each class.

    An encoder f_θ embeds examples; the representation of class k is the mean embedding of
    its support examples, c_k; a relation module g_φ reads the concatenation
    [f_θ(x̂), c_k] and outputs a relation score r_k = σ(g_φ(...)) in [0, 1]. For images,
    the embeddings are feature maps and g_φ is convolutional, as in the paper; for tabular
    data they are vectors and g_φ is an MLP. Meta-training
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
    relation_layer_sizes : tuple of int, default=None
        Hidden widths of the fully connected layers of the relation module, before its
        one output. None: ``(8,)`` for the convolutional module (the paper's),
        ``(64,)`` for the MLP.
    relation_module : {{"auto", "conv", "mlp"}}, default="auto"
        - "conv": the paper's module for feature maps, two convolution blocks and two
          fully connected layers over the query's and the class's maps concatenated by
          channel. With ``backbone="conv4"`` the encoder is then Sung et al.'s, Conv-4
          without the max-pools of its last two blocks, and its maps are not flattened;
          a module of yours must output maps (n, C, H, W), at least 4x4.
        - "mlp": an MLP over the concatenated flat embeddings.
        - "auto": "conv" for ``backbone="conv4"`` and for modules that output maps of
          at least 4x4, else "mlp".

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
    With the convolutional module, the maps of a 28x28 image are 64x7x7, and the module
    pools them to 64x1x1 before its fully connected layers; its normalisation is per
    pair (not the paper's batch normalisation, whose statistics over all query-class
    pairs would let a query's scores depend on the other queries). Class
    representations are means, not the paper's sums, so that `fit` handles classes with
    different numbers of shots.
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
        "relation_layer_sizes": ["array-like", None],
        "relation_module": [StrOptions({"auto", "conv", "mlp"})],
    }
    _architecture_params = (
        "backbone",
        "embed_dim",
        "hidden_layer_sizes",
        "relation_layer_sizes",
        "relation_module",
    )

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
        relation_layer_sizes: tuple[int, ...] | None = None,
        relation_module: str = "auto",
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
        self.relation_layer_sizes = relation_layer_sizes
        self.relation_module = relation_module

    # ----------------------------------------------------------------- maths
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        conv = self.relation_module == "conv" or (
            self.relation_module == "auto" and self.backbone != "mlp"
        )
        if conv and self.backbone == "conv4":
            shape = network_input_shape("conv4", input_shape)
            encoder: nn.Module = _feature_map_encoder(shape[0], self.embed_dim)
        else:
            encoder, shape = super()._build_network(input_shape, n_outputs)
        out_shape = tuple(probe(encoder, shape).shape[1:])
        sizes = (
            None
            if self.relation_layer_sizes is None
            else layer_sizes(self.relation_layer_sizes, "relation_layer_sizes")
        )
        if conv and len(out_shape) != 3:
            if self.relation_module == "conv":
                raise ValueError(
                    f"relation_module='conv' compares feature maps, but the backbone "
                    f"{self.backbone!r} outputs embeddings of shape {out_shape}, not maps "
                    "(C, H, W). Use backbone='conv4', a module that outputs maps, or "
                    "relation_module='mlp'."
                )
            conv = False  # "auto" with a module of flat embeddings
        if conv and min(out_shape[1:]) < 4:
            if self.relation_module == "conv":
                raise ValueError(
                    f"The convolutional relation module pools twice and needs feature maps "
                    f"of at least 4x4; the backbone outputs {out_shape[1]}x{out_shape[2]}. "
                    "Use larger images, or relation_module='mlp'."
                )
            conv = False  # "auto" with maps too small to pool twice: as "mlp"
            if self.backbone == "conv4":  # the plain Conv-4, as with "mlp"
                encoder, shape = super()._build_network(input_shape, n_outputs)
                out_shape = tuple(probe(encoder, shape).shape[1:])
        if conv:
            channels, height, width = out_shape
            hidden = (8,) if sizes is None else sizes
            relation: nn.Module = _ConvRelation(channels, height, width, hidden)
        else:
            relation = MLP(2 * math.prod(out_shape), (64,) if sizes is None else sizes, 1)
        return _EncoderWithHead(encoder, relation), shape

    def _conv_relation(self) -> bool:
        return isinstance(self.network_.head, _ConvRelation)

    def _embedding(self, out: torch.Tensor) -> torch.Tensor:
        # The convolutional relation module compares the maps themselves.
        return out if self._conv_relation() else out.flatten(1)

    def _query_chunk(self, n_classes: int) -> int:
        return max(1, _PAIRS_PER_PASS // n_classes) if self._conv_relation() else _PREDICT_CHUNK

    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        """log r_k of each query and class."""
        features = z_s.shape[1:]  # (d,) for vectors, (C, H, W) for maps
        prototypes = _class_means(z_s.flatten(1), y_s, n_classes).view(n_classes, *features)
        if self._conv_relation():
            return F.logsigmoid(self._head(params, z_q, prototypes))
        n_query = z_q.shape[0]
        # Each pair is the query's embedding and the class's, concatenated.
        pairs = torch.cat(
            [
                z_q.unsqueeze(1).expand(n_query, n_classes, *features),
                prototypes.unsqueeze(0).expand(n_query, n_classes, *features),
            ],
            dim=2,
        )
        relation = self._head(params, pairs.flatten(0, 1)).view(n_query, n_classes)
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
