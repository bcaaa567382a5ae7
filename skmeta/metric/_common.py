"""What the metric-based meta-learners share: the episode parameters, embedding support and
query together, and comparing each query to the support set chunk by chunk."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ..base import MetaClassifierMixin, MetaEstimatorMixin, PreparedTask
from ..nn import BACKBONES, carry_statistics, has_task_norm, make_backbone, reference_rows
from ..nn._backbones import probe
from ..nn._functional import functional_call

# Rows embedded per forward pass at prediction time (bounds memory on large query sets).
_PREDICT_CHUNK = 1024

# Cosine similarities lie in [-1, 1]; a softmax over them is nearly flat, so they are
# scaled, as in the cosine classifiers of Chen et al. (2019) and Gidaris & Komodakis (2018).
_COSINE_SCALE = 10.0

#: Constraints of the parameters every metric-based meta-learner has.
_METRIC_CONSTRAINTS: dict = {
    **MetaEstimatorMixin._parameter_constraints,
    **MetaClassifierMixin._episode_constraints,
    "backbone": [StrOptions(set(BACKBONES)), nn.Module],
    "embed_dim": [Interval(Integral, 1, None, closed="left")],
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    "transductive": ["boolean"],
    "meta_lr_decay_interval": [Interval(Integral, 1, None, closed="left"), None],
    "meta_lr_decay": [Interval(Real, 0, 1, closed="right")],
}


#: The numpydoc lines of the meta-training parameters every metric learner shares.
_META_TRAINING_DOC = """    meta_lr : float, default=1e-3
        Adam learning rate of meta-training.
    meta_lr_decay_interval : int, default=None
        Multiply the learning rate by ``meta_lr_decay`` every this many meta-updates
        (a step schedule; None: constant). Snell et al. halve it every 2000 episodes.
        The schedule follows the count of meta-updates of the run, so a run resumed
        from a checkpoint keeps it; ``meta_history_`` records the rate of each update.
    meta_lr_decay : float, default=0.5
        The factor of each step, in (0, 1].
    n_meta_iterations : int, default=1000
        Meta-updates (episodes batches) in `meta_fit`.
    meta_batch_size : int, default=1
        Episodes per meta-update.
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
        Seeds the initialisation and the episodes drawn by `meta_fit`.
    verbose : int, default=0
        Show a progress bar during `meta_fit` when > 0."""


def _class_means(z: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    onehot = F.one_hot(y, n_classes).to(z.dtype)
    return (onehot.T @ z) / onehot.sum(dim=0).unsqueeze(1)


class _EncoderWithHead(nn.Module):
    """An encoder and a learned comparison head; calling it embeds (the head is applied
    separately, on pairs of embeddings)."""

    def __init__(self, encoder: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


def _embedding_width(encoder: nn.Module, shape: tuple[int, ...]) -> int:
    return int(probe(encoder, shape).flatten(1).shape[1])


class _EmbeddingMixin:
    """Embedding with the encoder named by ``backbone``, non-transductive unless asked."""

    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        return make_backbone(
            self.backbone,
            input_shape,
            embed_dim=self.embed_dim,
            hidden_layer_sizes=self.hidden_layer_sizes,
        )

    def _embed(
        self, params: dict[str, torch.Tensor], X_support: torch.Tensor, X_query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embed support and query; the support alone sets batch statistics unless
        ``transductive``.

        Transductive, without batch statistics, or without gradients (prediction), one
        pass over both, the support as reference rows when it alone sets the statistics.
        When training non-transductively, two: the support, then the queries normalised
        with its statistics (`carry_statistics`), the same result in smaller feature maps,
        which glibc's allocator serves with fewer page faults in the backward pass
        (measured in fresh processes: a third of the faults, 1.14x the meta-training
        speed; one pass is the faster for prediction, which keeps nothing for a backward).
        """
        n = X_support.shape[0]
        one_pass = self.transductive or not torch.is_grad_enabled()
        if one_pass or not has_task_norm(self.network_):
            with reference_rows(self.network_, None if self.transductive else n):
                z = self._embedding(self._forward(params, torch.cat([X_support, X_query])))
            return z[:n], z[n:]
        with carry_statistics(self.network_):
            z_support = self._embedding(self._forward(params, X_support))
            if X_query.shape[0] == 0:
                return z_support, z_support[:0]
            return z_support, self._embedding(self._forward(params, X_query))

    def _embedding(self, out: torch.Tensor) -> torch.Tensor:
        """The embedding the learner compares, from the network's output: flat by default."""
        return out.flatten(1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags


class _SupportComparisonMixin(_EmbeddingMixin):
    """Classifiers that score each query against the embedded support set.

    Subclasses implement ``_compare(params, z_support, y_support, n_classes, z_query)``,
    returning log class scores of shape (n_query, n_classes), and ``_task_loss``, the
    meta-training loss of one task (by default the query cross-entropy of those scores).
    """

    def _compare(self, params, z_s, y_s, n_classes, z_q) -> torch.Tensor:
        raise NotImplementedError

    def _task_loss(
        self, params, z_s, y_s, n_classes, z_q, y_q
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self._compare(params, z_s, y_s, n_classes, z_q)
        return F.cross_entropy(scores, y_q), scores

    def _head(self, params: dict[str, torch.Tensor], *inputs: torch.Tensor) -> Any:
        """Run the comparison head of an `_EncoderWithHead` with parameters ``params``."""
        head = {k.removeprefix("head."): v for k, v in params.items() if k.startswith("head.")}
        return functional_call(self.network_.head, head, inputs)

    def _query_chunk(self, n_classes: int) -> int:
        """Queries compared per pass at prediction time."""
        return _PREDICT_CHUNK

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        losses, correct, total = [], 0.0, 0
        for t in tasks:
            z_s, z_q = self._embed(params, t.X_support, t.X_query)
            loss, scores = self._task_loss(params, z_s, t.y_support, t.n_classes, z_q, t.y_query)
            losses.append(loss)
            correct += float((scores.argmax(1) == t.y_query).sum())
            total += t.y_query.shape[0]
        return torch.stack(losses).mean(), {"accuracy": correct / total}

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        state = {"params": params, "y_support": y, "n_classes": n_classes}
        if has_task_norm(self.network_):
            # Batch-normalised encoders embed the support beside each query batch (the
            # statistics come from the support, or transductively from support + queries),
            # so embedding it here too would only double the work of `fit`.
            state["X_support"] = X
        else:
            state["z_support"] = self._embed(params, X, X[:0])[0]
        return state

    def _per_query_chunk(
        self, state: dict[str, Any], X: torch.Tensor, fn: Callable
    ) -> torch.Tensor:
        params, y_s, n_classes = state["params"], state["y_support"], state["n_classes"]
        out = []
        for chunk in [X] if self.transductive else X.split(self._query_chunk(n_classes)):
            if "X_support" in state:
                z_s, z_q = self._embed(params, state["X_support"], chunk)
            else:
                z_s, z_q = state["z_support"], self._embedding(self._forward(params, chunk))
            out.append(fn(params, z_s, y_s, n_classes, z_q))
        return torch.cat(out)

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        return self._per_query_chunk(state, X, self._compare)

    def _support_output(self, X: Any, fn: Callable) -> np.ndarray:
        """``fn(params, z_support, y_support, n_classes, z_query)`` for the queries ``X`` of
        the adapted task, as `predict_proba` computes class scores."""
        return self._scores(X, lambda state, X_t: self._per_query_chunk(state, X_t, fn))
