"""Prototypical Networks (Snell, Swersky & Zemel, 2017)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin, PreparedTask
from ..nn import has_task_norm
from ._common import (
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _PREDICT_CHUNK,
    _class_means,
    _EmbeddingMixin,
)

# Cosine similarities lie in [-1, 1]; softmax over them is nearly flat, so they are
# scaled as in the cosine classifiers of Chen et al. (2019) and Gidaris & Komodakis (2018).
_COSINE_SCALE = 10.0


class ProtoNetClassifier(_EmbeddingMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    __doc__ = f"""Prototypical Networks: classify a query by its distance to class prototypes.

    An encoder f_θ embeds examples; the prototype of a class is the mean embedding of its
    support examples, and a query's class probabilities are a softmax over negative
    distances to the prototypes. `meta_fit` learns θ on episodes so that this works on new
    classes; `fit` only embeds the support set, so adaptation is a forward pass. Without
    `meta_fit`, the encoder is random and the estimator is a nearest-centroid classifier
    in that random feature space.

    Parameters
    ----------
    backbone : {{"mlp", "conv4"}} or torch.nn.Module, default="mlp"
        The encoder: an MLP with ``hidden_layer_sizes``, the Conv-4 of few-shot learning
        (images: X of shape (n, H, W), (n, C, H, W), or flattened square images), or a
        module of yours mapping a batch of inputs to a batch of embeddings.
    n_way : int, default=5
        Classes per meta-training episode (Snell et al. train with more ways than they
        test with, e.g. 60 on Omniglot). `fit` takes any number of classes.
    n_shot : int, default=1
        Support examples per class in meta-training episodes.
    n_query : int, default=15
        Query examples per class in meta-training episodes.
    embed_dim : int, default=64
        Embedding size (output channels of Conv-4, output width of the MLP).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the MLP backbone.
    distance : {{"euclidean", "cosine"}}, default="euclidean"
        Squared Euclidean distance (the paper's), or cosine similarity scaled by 10.
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
    prototypes_ : ndarray of shape (n_classes, n_embedding)
        Class prototypes of the adapted task.
    n_features_in_ : int
        Features seen at `fit` (pixels, for images).

    See Also
    --------
    skmeta.tasks.EpisodeSampler : draws the N-way K-shot episodes of meta-training.
    skmeta.evaluation.evaluate : mean accuracy with a 95% confidence interval over tasks.

    References
    ----------
    J. Snell, K. Swersky and R. Zemel. "Prototypical Networks for Few-shot Learning".
    NeurIPS 2017.

    Examples
    --------
    >>> from skmeta import ProtoNetClassifier
    >>> from skmeta.datasets import load_omniglot
    >>> from skmeta.tasks import EpisodeSampler
    >>> X, y = load_omniglot(split="background")
    >>> clf = ProtoNetClassifier(backbone="conv4", n_meta_iterations=5, random_state=0)
    >>> clf = clf.meta_fit(X, y)                       # learn the prior from episodes
    >>> task = next(iter(EpisodeSampler(X, y, n_way=5, n_shot=1, random_state=1)))
    >>> clf.fit(task.X_support, task.y_support).predict(task.X_query).shape
    (75,)
    """

    _parameter_constraints: dict = {
        **_METRIC_CONSTRAINTS,
        "distance": [StrOptions({"euclidean", "cosine"})],
    }
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
        distance: str = "euclidean",
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
        self.distance = distance
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
    def _logits(self, z_query: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        if self.distance == "cosine":
            return _COSINE_SCALE * F.normalize(z_query, dim=1) @ F.normalize(prototypes, dim=1).T
        return -torch.cdist(z_query, prototypes).pow(2)

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        losses, correct, total = [], 0.0, 0
        for t in tasks:
            z_s, z_q = self._embed(params, t.X_support, t.X_query)
            logits = self._logits(z_q, _class_means(z_s, t.y_support, t.n_classes))
            losses.append(F.cross_entropy(logits, t.y_query))
            correct += float((logits.argmax(1) == t.y_query).sum())
            total += t.y_query.shape[0]
        return torch.stack(losses).mean(), {"accuracy": correct / total}

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        z_s, _ = self._embed(params, X, X[:0])
        state = {"params": params, "prototypes": _class_means(z_s, y, n_classes)}
        if has_task_norm(self.network_):
            # Batch-normalised encoders embed the support again beside each query batch:
            # the statistics come from the support (or, transductively, support + queries).
            state.update(X_support=X, y_support=y, n_classes=n_classes)
        return state

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        params = state["params"]
        if "X_support" not in state:
            z = torch.cat([self._forward(params, c).flatten(1) for c in X.split(_PREDICT_CHUNK)])
            return self._logits(z, state["prototypes"])
        logits = []
        for chunk in [X] if self.transductive else X.split(_PREDICT_CHUNK):
            z_s, z_q = self._embed(params, state["X_support"], chunk)
            prototypes = _class_means(z_s, state["y_support"], state["n_classes"])
            logits.append(self._logits(z_q, prototypes))
        return torch.cat(logits)

    @property
    def prototypes_(self) -> Any:
        check_is_fitted(self)
        return self.adaptation_["prototypes"].cpu().numpy()
