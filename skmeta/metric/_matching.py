"""Matching Networks (Vinyals, Blundell, Lillicrap, Kavukcuoglu & Wierstra, 2016)."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin
from ._common import (
    _COSINE_SCALE,
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _embedding_width,
    _EncoderWithHead,
    _SupportComparisonMixin,
)


class _FullContextEmbedding(nn.Module):
    """The full-context embeddings of Vinyals et al. (2016, appendix): g(x_i, S) and
    f(x̂, S), each reading the whole support set.

    ``forward(z_support, z_query, n_steps)`` takes the encoder's embeddings g'(x_i) (in
    the order the support is read) and f'(x̂), and returns (g, f):

    * g(x_i, S) = h→_i + h←_i + g'(x_i), with a bidirectional LSTM over the support;
    * f(x̂, S) = h_K after K = ``n_steps`` steps of the attention LSTM: with h_0 = f'(x̂)
      and c_0 = 0, r_{k-1} = Σ_i softmax_i(h_{k-1}ᵀ g(x_i)) g(x_i),
      ĥ_k, c_k = LSTM(f'(x̂), [h_{k-1}, r_{k-1}], c_{k-1}) and h_k = ĥ_k + f'(x̂).

    The read-out r enters the LSTM's gates beside the input rather than as half of a
    2d-wide hidden state: the gates are the same linear function of [f'(x̂), h, r], and
    the state keeps the embedding's width d, so that the skip connection h_k = ĥ_k + f'(x̂)
    is well defined. Each query is processed on its own: f(x̂, S) never depends on the
    other queries.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.support_lstm = nn.LSTM(width, width, batch_first=True, bidirectional=True)
        self.query_cell = nn.LSTMCell(2 * width, width)

    def forward(
        self, z_support: torch.Tensor, z_query: torch.Tensor, n_steps: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        both, _ = self.support_lstm(z_support.unsqueeze(0))
        forward, backward = both[0].chunk(2, dim=1)
        g = z_support + forward + backward
        h, c = z_query, torch.zeros_like(z_query)
        for _ in range(n_steps):
            readout = torch.softmax(h @ g.T, dim=1) @ g
            h_hat, c = self.query_cell(torch.cat([z_query, readout], dim=1), (h, c))
            h = h_hat + z_query
        return g, h


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

    With ``fce=True``, the embeddings are the paper's full-context embeddings: a
    bidirectional LSTM reads the embedded support set, and an attention LSTM refines each
    query's embedding by attending to the support over ``n_fce_steps`` steps.

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
    fce : bool, default=False
        Full-context embeddings (Vinyals et al.'s "FCE"): g(x_i, S) by a bidirectional
        LSTM over the support embeddings, f(x̂, S) by an attention LSTM over the support.
        The LSTMs are meta-trained with the encoder (parameters ``head.*``).
    n_fce_steps : int, default=5
        Processing steps K of the attention LSTM, when ``fce=True``.
    transductive : bool, default=False
        Whether query examples may share normalisation statistics with each other. When
        False, batch-normalised backbones take statistics from the support set only, so a
        query's prediction never depends on the other queries.
{_META_TRAINING_DOC}

    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained parameters θ* (after `meta_fit`): the encoder's, or with
        ``fce=True`` the encoder's (``encoder.*``) and the LSTMs' (``head.*``).
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

    Without FCE, predictions do not depend on the order of the support set. With FCE the
    bidirectional LSTM reads the support as a sequence, so g(x_i, S) depends on its order,
    as in the paper. To make that order well defined, the support is read sorted by class
    (a stable sort: rows of one class keep their order), in meta-training and in `fit`
    alike: interleaving the classes differently changes nothing; reordering the shots of
    a class, or relabelling the classes, can change the probabilities a little. For a
    given support set, predictions are deterministic, and a query's never depends on the
    other queries.

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

    _parameter_constraints: dict = {
        **_METRIC_CONSTRAINTS,
        "fce": ["boolean"],
        "n_fce_steps": [Interval(Integral, 1, None, closed="left")],
    }
    _architecture_params = ("backbone", "embed_dim", "hidden_layer_sizes", "fce")

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        embed_dim: int = 64,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        fce: bool = False,
        n_fce_steps: int = 5,
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
        self.fce = fce
        self.n_fce_steps = n_fce_steps
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
        if not self.fce:
            return encoder, shape
        return _EncoderWithHead(
            encoder, _FullContextEmbedding(_embedding_width(encoder, shape))
        ), shape

    def _attention(self, params, z_s, y_s, z_q) -> torch.Tensor:
        """log a(x̂, x_i) over the support rows, in their given order."""
        if not isinstance(self.network_, _EncoderWithHead):
            return _log_attention(z_s, z_q)
        order = torch.argsort(y_s, stable=True)
        g, f = self._head(params, z_s[order], z_q, self.n_fce_steps)
        return _log_attention(g, f)[:, torch.argsort(order)]

    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        # log Σ_i a_i [y_i = k], computed as a log-sum-exp over each class's support rows.
        in_class = F.one_hot(y_s, n_classes).to(torch.float64).log()
        log_a = self._attention(params, z_s, y_s, z_q)
        return torch.logsumexp(log_a.unsqueeze(2) + in_class, dim=1)

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
            X, lambda params, z_s, y_s, n_classes, z_q: self._attention(params, z_s, y_s, z_q).exp()
        )
