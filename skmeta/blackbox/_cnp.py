"""Conditional Neural Processes (Garnelo et al., 2018): black-box adaptation.

A feature extractor f embeds examples; a set encoder h turns each support pair into a
representation r_i = h([f(x_i); y_i]) and averages them into a task summary r, which is
invariant to the order of the support set; a decoder g reads g([f(x*); r]) for a query.
Adapting to a task is that forward pass: no gradient steps.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin, MetaRegressorMixin, PreparedTask
from ..metric._common import _PREDICT_CHUNK, _class_means, _embedding_width, _EmbeddingMixin
from ..nn import BACKBONES, MLP, has_task_norm, layer_sizes, make_backbone
from ..nn._functional import functional_call

# Lower bound and scale of the predicted standard deviation, as in the CNP paper: the
# bound keeps the likelihood from collapsing onto single support points early in training.
_MIN_STD, _STD_SCALE = 0.1, 0.9


def _task_of_rows(tasks: list[PreparedTask], part: str) -> torch.Tensor:
    """The index of the task of each row of the tasks' ``part``, concatenated."""
    sizes = torch.as_tensor([getattr(t, part).shape[0] for t in tasks])
    rows = torch.arange(len(tasks)).repeat_interleave(sizes)
    return rows.to(getattr(tasks[0], part).device)


class _MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention of queries over support rows, within each
    group.

    The deterministic path of the Attentive Neural Process (Kim et al., 2019): a query x*
    reads, in each head j, r*_j(x*) = Σ_i softmax_i(⟨W_q^j f(x*), W_k^j f(x_i)⟩ / √d_j)
    W_v^j r_i from the representations r_i of the support rows it may see; the heads'
    outputs are concatenated (width ``dim``, d_j = dim / n_heads).

    ``allowed`` says which rows a query may see: a boolean mask of shape (n_query,
    n_support) gives one summary per query, shape (n_query, dim) (the regressor: rows of
    the query's own task); a mask of shape (n_groups, 1, n_support) gives one summary per
    query and group, shape (n_query, n_groups, dim) (the classifier: rows of each class).
    Every query must see at least one row of each group.
    """

    def __init__(self, width: int, dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(width, dim)
        self.key = nn.Linear(width, dim)
        self.value = nn.Linear(dim, dim)

    def forward(
        self, z_q: torch.Tensor, z_s: torch.Tensor, r: torch.Tensor, allowed: torch.Tensor
    ) -> torch.Tensor:
        # Heads lead: q (h, n_query, d_j), k and v (h, n_support, d_j).
        q, k, v = (
            lin(x).unflatten(1, (self.n_heads, -1)).transpose(0, 1)
            for lin, x in ((self.query, z_q), (self.key, z_s), (self.value, r))
        )
        grouped = allowed.dim() == 3
        mask = allowed if grouped else allowed.unsqueeze(0)  # (groups, n_query or 1, n_support)
        scores = (q @ k.transpose(1, 2) / q.shape[-1] ** 0.5).unsqueeze(1)
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
        out = weights @ v.unsqueeze(1)  # (h, groups, n_query, d_j)
        out = out.permute(2, 1, 0, 3).flatten(2)  # (n_query, groups, dim)
        return out if grouped else out.squeeze(1)


class _DotAttention(nn.Module):
    """The single-head attention of the attentive CNPs before 2026-12-07, which replaced
    the mean summary; kept by name only, so that an estimator pickled with it says what
    to do rather than failing to find the class."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        raise ValueError(
            "This attentive BlackBoxRegressor or BlackBoxClassifier was pickled by an "
            "earlier skmeta, whose single-head attention replaced the mean summary; the "
            "attention now has n_heads heads and is read beside the mean, so the pickled "
            "parameters do not fit it. Meta-train the estimator again (meta_fit), or "
            "unpickle it with the skmeta version that wrote it."
        )


class _CNPNetwork(nn.Module):
    """Feature extractor f, set encoder h, decoder g and, for attentive aggregation, the
    attention of queries over support rows; calling it extracts features."""

    def __init__(
        self,
        features: nn.Module,
        encoder: nn.Module,
        decoder: nn.Module,
        attention: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.features = features
        self.encoder = encoder
        self.decoder = decoder
        if attention is not None:
            self.attention = attention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


class _CNPLearner(_EmbeddingMixin, MetaEstimatorMixin):
    """The shared body of the CNP twins: the network and the features of many tasks.

    Subclasses set ``_label_width`` (what the encoder reads beside f(x)) and
    ``_decoder_outputs``.
    """

    _parameter_constraints: dict = {
        **MetaEstimatorMixin._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES)), nn.Module],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "embed_dim": [Interval(Integral, 1, None, closed="left")],
        "transductive": ["boolean"],
        "aggregation": [StrOptions({"mean", "attention"})],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
    }
    _architecture_params = ("backbone", "embed_dim", "hidden_layer_sizes", "aggregation")
    _shape_free_params = ("n_heads",)  # (in the architecture only under attention)
    _label_width = 0
    _decoder_outputs = 1

    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        hidden = layer_sizes(self.hidden_layer_sizes)
        features, shape = make_backbone(
            self.backbone, input_shape, embed_dim=self.embed_dim, hidden_layer_sizes=hidden
        )
        width = _embedding_width(features, shape)
        encoder = MLP(width + self._label_width, hidden, self.embed_dim)
        attention = None
        if self.aggregation == "attention":
            attention = _MultiHeadAttention(width, self.embed_dim, self.n_heads)
        summary = self.embed_dim * (2 if attention is not None else 1)
        decoder = MLP(width + summary, hidden, self._decoder_outputs)
        return _CNPNetwork(features, encoder, decoder, attention), shape

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.aggregation == "attention" and self.embed_dim % self.n_heads:
            raise InvalidParameterError(
                f"n_heads={self.n_heads} must divide embed_dim={self.embed_dim}: each "
                "attention head reads an equal slice of the representations. Choose "
                f"n_heads among the divisors of {self.embed_dim}, or change embed_dim."
            )

    def __setstate__(self, state: dict[str, Any]) -> None:
        # (estimators pickled before n_heads existed had no attention heads to set)
        state.setdefault("n_heads", 8)
        super().__setstate__(state)

    def _checkpoint_key(self) -> dict[str, str]:
        key = super()._checkpoint_key()
        if self.aggregation != "attention":
            key.pop("n_heads", None)  # unused: it must not stop a resume
        return key

    def _architecture_config(self) -> dict[str, Any]:
        config = super()._architecture_config()
        if self.aggregation == "attention":
            # n_heads changes no parameter's shape, only how the heads split them.
            config["n_heads"] = self.n_heads
        return config

    def _attentive_summary(self, params, z_q, z_s, r, allowed, means) -> torch.Tensor:
        """A query's summary under attention: what its heads read from the support rows it
        may see, beside the plain mean of those rows (the global path that the Attentive
        Neural Process keeps beside attention, there as its latent path); ``means`` are
        those means, one per query or, grouped, one per group."""
        read = self._call("attention", params, z_q, z_s, r, allowed)
        if means.dim() < read.dim():
            means = means.unsqueeze(0).expand(read.shape[0], -1, -1)
        return torch.cat([read, means], dim=-1)

    def _call(
        self, part: str, params: dict[str, torch.Tensor], *args: torch.Tensor
    ) -> torch.Tensor:
        """Run sub-network ``part`` ("encoder", "decoder", "attention") with ``params``."""
        prefix = part + "."
        own = {k.removeprefix(prefix): v for k, v in params.items() if k.startswith(prefix)}
        return functional_call(getattr(self.network_, part), own, args)

    def _task_features(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """f(support) and f(query) of each task; one pass over all tasks when no batch
        statistics tie examples to their task."""
        if has_task_norm(self.network_):
            return [self._embed(params, t.X_support, t.X_query) for t in tasks]
        parts = [x for t in tasks for x in (t.X_support, t.X_query)]
        z = self._forward(params, torch.cat(parts)).flatten(1)
        chunks = z.split([x.shape[0] for x in parts])
        return list(zip(chunks[::2], chunks[1::2]))

    def _query_chunks(self, state: dict[str, Any], X: torch.Tensor, fn) -> torch.Tensor:
        """``fn(z_support, z_query)`` over the queries in chunks; ``z_support`` is None when
        the adapted summary holds (no batch statistics to recompute)."""
        params, out = state["params"], []
        for chunk in [X] if self.transductive else X.split(_PREDICT_CHUNK):
            if "X_support" in state:
                z_s, z_q = self._embed(params, state["X_support"], chunk)
            else:
                z_s, z_q = None, self._forward(params, chunk).flatten(1)
            out.append(fn(z_s, z_q))
        return torch.cat(out)

    def _support_state(self, params, X, y, summarise: Callable[[], Any]) -> dict[str, Any]:
        """What `fit` keeps: the support's summary, ``summarise()``, or under batch
        normalisation the support itself, summarised beside each query batch (the
        statistics come from the support, or transductively from support + queries), so
        that summarising it at `fit` too would only double the work."""
        # The support labels: summaries computed again at predict time (attention, batch
        # statistics) read them.
        state = {"params": params, "y_support": y}
        if has_task_norm(self.network_):
            state["X_support"] = X
        else:
            state["summary"] = summarise()
        return state


_CNP_PARAMS_DOC = """
    backbone : {{"mlp", "conv4"}} or torch.nn.Module, default="mlp"
        The feature extractor f: an MLP with ``hidden_layer_sizes`` and ``embed_dim``
        outputs, the Conv-4 of few-shot learning (images: X of shape (n, H, W),
        (n, C, H, W), or flattened square images), or a module of yours mapping a batch of
        inputs to a batch of features.
    hidden_layer_sizes : tuple of int, default={hidden}
        Hidden widths of the MLPs: the feature extractor (for "mlp"), the set encoder h
        and the decoder g.
    embed_dim : int, default={embed}
        Width of the features f(x) (for "mlp" and "conv4") and of the task summary r.
    transductive : bool, default=False
        Whether query examples may share normalisation statistics with each other. When
        False, batch-normalised backbones take statistics from the support set only, so a
        query's prediction never depends on the other queries.
    meta_lr : float, default=1e-3
        Adam learning rate of meta-training.
    n_meta_iterations : int, default=1000
        Meta-updates in `meta_fit`.
    meta_batch_size : int, default={batch}
        Tasks per meta-update.
    validation_interval : int, default=100
        Meta-updates between two scorings of ``validation_tasks``.
    patience : int, default=None
        Stop after this many validations without improvement (None: never stop early).
    prior : Prior, str or path-like, default=None
        A meta-trained prior (from `export_prior`) to adapt from and to start
        meta-training from. Clones keep it.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the tasks drawn by `meta_fit`.
    verbose : int, default=0
        Show a progress bar during `meta_fit` when > 0.
"""

_CNP_REFERENCE = """
    M. Garnelo, D. Rosenbaum, C. Maddison, T. Ramalho, D. Saxton, M. Shanahan, Y. W. Teh,
    D. Rezende and S. M. A. Eslami. "Conditional Neural Processes". ICML 2018.
"""


class BlackBoxRegressor(MetaRegressorMixin, _CNPLearner, BaseEstimator):
    __doc__ = f"""Conditional Neural Process regression: predict a mean and an uncertainty.

    Each support pair is encoded as r_i = h([f(x_i); y_i]); their mean r summarises the
    task. The decoder g([f(x*); r]) gives a query's predictive mean and standard deviation
    (σ = 0.1 + 0.9·softplus(·)), meta-trained by the Gaussian negative log-likelihood of
    the query targets. `fit` is one forward pass over the support set, so adapting to a
    new task is cheap. Without `meta_fit`, the networks are random: a valid but weak
    regressor.

    With ``aggregation="attention"`` each query also reads a summary of its own: in each
    of ``n_heads`` heads, an attention-weighted mean of the (projected) r_i whose weights
    compare the query with each support input (the deterministic path of the Attentive
    Neural Process). The decoder reads it beside the mean r: the mean summary underfits
    the support set, attention lets the prediction follow the support points near x*.

    Parameters
    ----------
    aggregation : {{"mean", "attention"}}, default="mean"
        How the support representations r_i become the summary the decoder reads: their
        mean (a CNP), or that mean beside a multi-head scaled dot-product attention of the
        query's features over the support inputs' features (an attentive CNP). Either is
        invariant to the order of the support set.
    n_heads : int, default=8
        Attention heads (``aggregation="attention"`` only; ignored otherwise). Must divide
        ``embed_dim``.
    {_CNP_PARAMS_DOC.format(hidden=(128, 128), embed=128, batch=16)}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained parameters θ* of f, h and g (after `meta_fit`).
    meta_history_ : list of dict
        Per meta-update: ``loss`` (query negative log-likelihood), ``mse`` and ``time``.
    n_meta_iter_ : int
        Meta-updates done.
    n_features_in_ : int
        Features seen at `fit`.

    See Also
    --------
    BlackBoxClassifier : the classification twin.
    MAMLRegressor : adapts by gradient steps instead of a forward pass.
    sklearn.gaussian_process.GaussianProcessRegressor : the same ``return_std`` API.

    References
    ----------
    {_CNP_REFERENCE}
    H. Kim, A. Mnih, J. Schwarz, M. Garnelo, A. Eslami, D. Rosenbaum, O. Vinyals and
    Y. W. Teh. "Attentive Neural Processes". ICLR 2019.

    Examples
    --------
    >>> from skmeta import BlackBoxRegressor
    >>> from skmeta.datasets import SinusoidTasks
    >>> reg = BlackBoxRegressor(n_meta_iterations=20, random_state=0)
    >>> reg = reg.meta_fit(SinusoidTasks(random_state=0))
    >>> task = SinusoidTasks(n_support=10, random_state=1).sample(1)[0]
    >>> mean, std = reg.fit(task.X_support, task.y_support).predict(task.X_query,
    ...                                                              return_std=True)
    >>> mean.shape, bool((std > 0).all())
    ((10,), True)
    """

    _label_width = 1
    _decoder_outputs = 2

    def __init__(
        self,
        *,
        aggregation: str = "mean",
        n_heads: int = 8,
        backbone: str | nn.Module = "mlp",
        hidden_layer_sizes: tuple[int, ...] = (128, 128),
        embed_dim: int = 128,
        transductive: bool = False,
        meta_lr: float = 1e-3,
        n_meta_iterations: int = 1000,
        meta_batch_size: int = 16,
        validation_interval: int = 100,
        patience: int | None = None,
        prior: Any = None,
        device: str | torch.device = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.aggregation = aggregation
        self.n_heads = n_heads
        self.backbone = backbone
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embed_dim = embed_dim
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
    def _representations(self, params, z_s, y_s) -> torch.Tensor:
        """r_i = h([f(x_i); y_i]) for every support row."""
        return self._call("encoder", params, torch.cat([z_s, y_s.unsqueeze(1)], dim=1))

    def _query_summaries(self, params, z_s, r, task_s, z_q, task_q, n_tasks) -> torch.Tensor:
        """Each query's summary: the mean of its task's r_i, and under attention what its
        heads read from them beside it (rows carry the index of their task, so tasks never
        mix)."""
        counts = torch.bincount(task_s, minlength=n_tasks).clamp(min=1).to(r.dtype)
        total = r.new_zeros(n_tasks, r.shape[1]).index_add(0, task_s, r)
        means = (total / counts.unsqueeze(1))[task_q]
        if self.aggregation == "attention":
            allowed = task_q.unsqueeze(1) == task_s.unsqueeze(0)
            return self._attentive_summary(params, z_q, z_s, r, allowed, means)
        return means

    def _decode(self, params, z_q, summary) -> torch.Tensor:
        """Columns (mean, std) for queries ``z_q`` with their tasks' summaries."""
        mean, raw = self._call("decoder", params, torch.cat([z_q, summary], dim=1)).unbind(1)
        return torch.stack([mean, _MIN_STD + _STD_SCALE * F.softplus(raw)], dim=1)

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        # All tasks at once: each row carries the index of its task.
        features = self._task_features(params, tasks)
        z_s, z_q = (torch.cat(zs) for zs in zip(*features))
        y_s = torch.cat([t.y_support for t in tasks])
        y_q = torch.cat([t.y_query for t in tasks])
        r = self._representations(params, z_s, y_s)
        task_s, task_q = _task_of_rows(tasks, "y_support"), _task_of_rows(tasks, "y_query")
        summaries = self._query_summaries(params, z_s, r, task_s, z_q, task_q, len(tasks))
        mean, std = self._decode(params, z_q, summaries).unbind(1)
        loss = F.gaussian_nll_loss(mean, y_q, std.pow(2), full=True)
        return loss, {"mse": float(F.mse_loss(mean.detach(), y_q))}

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:

        def summarise():
            # The support's features and representations: a query's summary needs them
            # all under attention, and their mean otherwise.
            z_s, _ = self._embed(params, X, X[:0])
            return z_s, self._representations(params, z_s, y)

        return self._support_state(params, X, y, summarise)

    def _mean_std(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        params = state["params"]

        def decode(z_s, z_q):
            if z_s is None:
                z_s, r = state["summary"]
            else:
                r = self._representations(params, z_s, state["y_support"])
            task_s = z_s.new_zeros(z_s.shape[0], dtype=torch.long)
            task_q = z_q.new_zeros(z_q.shape[0], dtype=torch.long)
            summaries = self._query_summaries(params, z_s, r, task_s, z_q, task_q, 1)
            return self._decode(params, z_q, summaries)

        return self._query_chunks(state, X, decode)

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        return self._mean_std(state, X)[:, 0]

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """Predictive mean (and standard deviation) for the adapted task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Query inputs.
        return_std : bool, default=False
            Whether to return the predictive standard deviation as well, as
            `sklearn.gaussian_process.GaussianProcessRegressor` does.

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only when ``return_std`` is True; always at least 0.1.
        """
        out = self._scores(X, self._mean_std).astype(np.float64)
        return (out[:, 0], out[:, 1]) if return_std else out[:, 0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Without meta-training the encoder and decoder are random: fit summarises the
        # support set through untrained networks, so R^2 is poor by design.
        tags.regressor_tags.poor_score = True
        return tags


class BlackBoxClassifier(MetaClassifierMixin, _CNPLearner, BaseEstimator):
    __doc__ = f"""Conditional Neural Process classification, for any number of classes.

    The summary of class k is r_k, the mean of h(f(x_i)) over its support examples (the
    CNP's mean over pairs, taken per class of the one-hot label); the decoder scores a
    query against each class, logit_k = g([f(x*); r_k]), meta-trained by cross-entropy.
    `fit` is one forward pass over the support set. Without `meta_fit`, the networks are
    random: a valid but weak classifier.

    With ``aggregation="attention"`` each query also reads its own summary of each class:
    in each of ``n_heads`` heads, an attention-weighted mean of the class's (projected)
    h(f(x_i)) whose weights compare the query with each support example of the class (the
    Attentive Neural Process's deterministic path, per class), beside the class mean r_k.
    With one shot per class it carries that example alone; with several, the support
    examples most like the query count most.

    Parameters
    ----------
    aggregation : {{"mean", "attention"}}, default="mean"
        How a class's support representations become its summary: their mean (a CNP), or
        that mean beside a multi-head scaled dot-product attention of the query's features
        over the class's support features (an attentive CNP). Either is invariant to the
        order of the support set.
    n_heads : int, default=8
        Attention heads (``aggregation="attention"`` only; ignored otherwise). Must divide
        ``embed_dim``.
    n_way : int, default=5
        Classes per meta-training episode. `fit` takes any number of classes.
    n_shot : int, default=1
        Support examples per class in meta-training episodes.
    n_query : int, default=15
        Query examples per class in meta-training episodes.
    {_CNP_PARAMS_DOC.format(hidden=(64, 64), embed=64, batch=4)}
    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained parameters θ* of f, h and g (after `meta_fit`).
    meta_history_ : list of dict
        Per meta-update: ``loss``, ``accuracy`` (on the episodes' queries) and ``time``.
    n_meta_iter_ : int
        Meta-updates done.
    classes_ : ndarray of shape (n_classes,)
        Labels of the support set given to `fit`.
    n_features_in_ : int
        Features seen at `fit` (pixels, for images).

    See Also
    --------
    BlackBoxRegressor : the regression twin, with predictive uncertainty.
    ProtoNetClassifier : compares queries to class means by a fixed distance instead.

    References
    ----------
    {_CNP_REFERENCE}
    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import BlackBoxClassifier
    >>> X, y = make_blobs(600, centers=30, n_features=8, random_state=0)
    >>> clf = BlackBoxClassifier(n_way=3, n_query=5, n_meta_iterations=20,
    ...                          random_state=0).meta_fit(X, y)
    >>> clf.fit(X[y < 4][:12], y[y < 4][:12]).predict_proba(X[:2]).shape
    (2, 4)
    """

    _parameter_constraints: dict = {
        **_CNPLearner._parameter_constraints,
        **MetaClassifierMixin._episode_constraints,
    }

    def __init__(
        self,
        *,
        aggregation: str = "mean",
        n_heads: int = 8,
        backbone: str | nn.Module = "mlp",
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        embed_dim: int = 64,
        transductive: bool = False,
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
        self.aggregation = aggregation
        self.n_heads = n_heads
        self.backbone = backbone
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.hidden_layer_sizes = hidden_layer_sizes
        self.embed_dim = embed_dim
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
    def _summaries(self, params, z_s, r, y_s, n_classes, z_q) -> torch.Tensor:
        """The class summaries r_k from the support representations ``r`` = h(f(x_i)): one
        per class, shape (n_classes, d), or under attention one per query and class, the
        heads' reading beside the class mean, shape (n_query, n_classes, 2d)."""
        means = _class_means(r, y_s, n_classes)
        if self.aggregation == "attention":
            classes = torch.arange(n_classes, device=y_s.device)
            allowed = (y_s.unsqueeze(0) == classes.unsqueeze(1)).unsqueeze(1)
            return self._attentive_summary(params, z_q, z_s, r, allowed, means)
        return means

    def _logits(self, params, z_q, summaries) -> torch.Tensor:
        """logit_k = g([f(x*); r_k]) for every query and class."""
        n, k = z_q.shape[0], summaries.shape[-2]
        if summaries.dim() == 2:
            summaries = summaries.unsqueeze(0).expand(n, k, -1)
        pairs = torch.cat([z_q.unsqueeze(1).expand(n, k, -1), summaries], dim=2)
        return self._call("decoder", params, pairs.reshape(n * k, -1)).reshape(n, k)

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        losses, correct, total = [], 0.0, 0
        for t, (z_s, z_q) in zip(tasks, self._task_features(params, tasks)):
            r = self._call("encoder", params, z_s)
            summaries = self._summaries(params, z_s, r, t.y_support, t.n_classes, z_q)
            logits = self._logits(params, z_q, summaries)
            losses.append(F.cross_entropy(logits, t.y_query))
            correct += float((logits.argmax(1) == t.y_query).sum())
            total += t.y_query.shape[0]
        return torch.stack(losses).mean(), {"accuracy": correct / total}

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:

        def summarise():
            z_s, _ = self._embed(params, X, X[:0])
            r = self._call("encoder", params, z_s)
            # Under attention a class's summary depends on the query: keep the support's
            # features and representations; otherwise the class means are the state.
            return (z_s, r) if self.aggregation == "attention" else _class_means(r, y, n_classes)

        state = self._support_state(params, X, y, summarise)
        state["n_classes"] = n_classes
        return state

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        params, y_s, n_classes = state["params"], state["y_support"], state["n_classes"]

        def logits(z_s, z_q):
            if z_s is None and self.aggregation == "mean":
                return self._logits(params, z_q, state["summary"])
            if z_s is None:
                z_s, r = state["summary"]
            else:
                r = self._call("encoder", params, z_s)
            return self._logits(params, z_q, self._summaries(params, z_s, r, y_s, n_classes, z_q))

        return self._query_chunks(state, X, logits)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Without meta-training the decoder is random: a deliberately weak classifier.
        tags.classifier_tags.poor_score = True
        return tags
