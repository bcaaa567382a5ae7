"""Prototypical Networks (Snell, Swersky & Zemel, 2017)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import islice
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import N_VALIDATION_TASKS, MetaClassifierMixin, MetaEstimatorMixin, PreparedTask
from ..nn import has_task_norm
from ..tasks import EpisodeSampler, iter_tasks
from ..tasks._sampler import _TooFewClassesError
from ._common import (
    _COSINE_SCALE,
    _META_TRAINING_DOC,
    _METRIC_CONSTRAINTS,
    _PREDICT_CHUNK,
    _class_means,
    _EmbeddingMixin,
)

#: Key of the log-temperature in the parameter dict (beside the encoder's parameters), so
#: that a learned or fitted temperature travels with ``meta_params_`` and exported priors.
_LOG_TEMPERATURE = "log_temperature"
# A fitted temperature stays within [e^-7, e^7]: on validation tasks without a single
# error the NLL keeps falling as the temperature goes to 0, which is no calibration.
_LOG_TEMPERATURE_BOUNDS = (-7.0, 7.0)


class ProtoNetClassifier(_EmbeddingMixin, MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    __doc__ = f"""Prototypical Networks: classify a query by its distance to class prototypes.

    An encoder f_θ embeds examples; the prototype of a class is the mean embedding of its
    support examples, and a query's class probabilities are a softmax over negative
    distances to the prototypes, divided by a temperature. `meta_fit` learns θ on episodes
    so that this works on new classes; `fit` only embeds the support set, so adaptation is
    a forward pass. Without `meta_fit`, the encoder is random and the estimator is a
    nearest-centroid classifier in that random feature space.

    Parameters
    ----------
    backbone : {{"mlp", "conv4"}} or torch.nn.Module, default="mlp"
        The encoder: an MLP with ``hidden_layer_sizes``, the Conv-4 of few-shot learning
        (images: X of shape (n, H, W), (n, C, H, W), or flattened square images), or a
        module of yours mapping a batch of inputs to a batch of embeddings.
    n_way : int, default=5
        Classes of the tasks the estimator is meant for, and of the meta-training episodes
        unless ``train_n_way`` is set. `fit` takes any number of classes.
    n_shot : int, default=1
        Support examples per class in meta-training episodes.
    n_query : int, default=15
        Query examples per class in meta-training episodes.
    train_n_way : int, default=None
        Classes per meta-training episode drawn from a labelled pool (``meta_fit(X, y)``);
        None uses ``n_way``. Snell et al. train with more ways than they test with (60-way
        episodes for 5-way tasks on Omniglot): harder episodes give a better embedding.
        Tasks you pass to `meta_fit` yourself are used as they are.
    embed_dim : int, default=64
        Embedding size (output channels of Conv-4, output width of the MLP).
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the MLP backbone.
    distance : {{"euclidean", "cosine"}}, default="euclidean"
        Squared Euclidean distance (the paper's), or cosine similarity scaled by 10.
    temperature : float or {{"learned", "fitted"}}, default=1.0
        Divides the logits (negative squared distances, or 10 x cosine similarities)
        before the softmax; it changes `predict_proba`, never `predict`.

        - a float: a fixed temperature (1.0 is the paper's model);
        - "learned": a scalar meta-trained with the encoder, from 1.0 (or the prior's);
        - "fitted": meta-training runs at temperature 1.0, then the temperature is set to
          minimise the query negative log-likelihood of ``validation_tasks`` (or, without
          them, of episodes of the meta-training source) — temperature scaling.
    transductive : bool, default=False
        Whether query examples may share normalisation statistics with each other. When
        False, batch-normalised backbones take statistics from the support set only, so a
        query's prediction never depends on the other queries.
{_META_TRAINING_DOC}

    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The meta-trained encoder parameters θ* (after `meta_fit`), and the
        ``log_temperature``.
    meta_history_ : list of dict
        One record per meta-update: ``loss``, ``accuracy`` (on the episode's queries),
        ``time`` in seconds, and ``val_score`` when validation ran.
    n_meta_iter_ : int
        Meta-updates done.
    classes_ : ndarray of shape (n_classes,)
        Labels of the support set given to `fit`.
    prototypes_ : ndarray of shape (n_classes, n_embedding)
        Class prototypes of the adapted task.
    temperature_ : float
        The temperature `predict_proba` uses.
    n_features_in_ : int
        Features seen at `fit` (pixels, for images).

    See Also
    --------
    skmeta.tasks.EpisodeSampler : draws the N-way K-shot episodes of meta-training.
    skmeta.evaluation.evaluate : mean accuracy with a 95% confidence interval over tasks.

    Notes
    -----
    Distances scale with the embedding, so the paper's softmax over raw distances is
    often over-confident on new classes (an encoder meta-trained to separate its training
    classes pushes their queries far from the wrong prototypes). A temperature T fixes
    the scale of p(y = k | x) ∝ exp(−d(f(x), c_k) / T) without changing the ranking.
    "learned" trains log T by the same meta-gradient as θ (the metric scaling of Oreshkin
    et al., 2018): calibrated on the training classes, cheap, but it moves at the pace of
    ``meta_lr``. "fitted" is the temperature scaling of Guo et al. (2017): one scalar
    minimising the NLL of held-out tasks after meta-training (a bounded 1-D search over
    log T in [−7, 7]), which calibrates for the classes that matter when the validation
    tasks use unseen classes. The temperature is part of ``meta_params_`` and of exported
    priors: an estimator built with ``prior=`` and ``temperature="fitted"`` or
    ``"learned"`` uses the prior's; a float ``temperature`` (the default, 1.0) always wins
    over it.

    References
    ----------
    J. Snell, K. Swersky and R. Zemel. "Prototypical Networks for Few-shot Learning".
    NeurIPS 2017.
    C. Guo, G. Pleiss, Y. Sun and K. Q. Weinberger. "On Calibration of Modern Neural
    Networks". ICML 2017.
    B. Oreshkin, P. Rodríguez and A. Lacoste. "TADAM: Task dependent adaptive metric for
    improved few-shot learning". NeurIPS 2018.

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
        "train_n_way": [Interval(Integral, 2, None, closed="left"), None],
        "distance": [StrOptions({"euclidean", "cosine"})],
        "temperature": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"learned", "fitted"}),
        ],
    }
    _architecture_params = ("backbone", "embed_dim", "hidden_layer_sizes", "distance")
    # (the embedding was meta-trained for its distance: another one is another model)
    _shape_free_params = ("distance",)

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        n_way: int = 5,
        n_shot: int = 1,
        n_query: int = 15,
        train_n_way: int | None = None,
        embed_dim: int = 64,
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        distance: str = "euclidean",
        temperature: float | str = 1.0,
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
        self.train_n_way = train_n_way
        self.embed_dim = embed_dim
        self.hidden_layer_sizes = hidden_layer_sizes
        self.distance = distance
        self.temperature = temperature
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

    def meta_fit(
        self,
        tasks: Any,
        y: Any = None,
        groups: Any = None,
        *,
        validation_tasks: Any = None,
        checkpoint: Any = None,
        checkpoint_interval: int = 50,
        callbacks: Any = None,
    ) -> ProtoNetClassifier:
        one_shot = isinstance(tasks, Iterator) and y is None
        if self.temperature == "fitted" and validation_tasks is None and one_shot:
            raise ValueError(
                "temperature='fitted' fits the temperature on tasks after meta-training, "
                "but a one-shot iterator of tasks is used up by then: pass "
                "validation_tasks=..., or a re-iterable collection such as a list or an "
                "EpisodeSampler."
            )
        # Calibration episodes from a labelled pool: n_way-way, the tasks the estimator is
        # meant for, not train_n_way-way (a temperature fitted at another way count
        # mis-calibrates); built here, so that too few classes fail before training.
        pool = None
        if self.temperature == "fitted" and validation_tasks is None and y is not None:
            if groups is None:
                self._validate_params()
                pool = self._episode_sampler(tasks, y, None, n_way=self.n_way)
        super().meta_fit(
            tasks,
            y,
            groups,
            validation_tasks=validation_tasks,
            checkpoint=checkpoint,
            checkpoint_interval=checkpoint_interval,
            callbacks=callbacks,
        )
        if self.temperature == "fitted":
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            if validation_tasks is not None:
                calibration = self._validation_list(validation_tasks, seed, self.device_)
            else:
                if pool is not None:
                    pool.random_state = seed  # (each iteration reads it)
                    stream = iter_tasks(pool, n_shot=self.n_shot, stratify=True)
                else:
                    stream = self._task_stream(tasks, y, groups, seed)
                calibration = [
                    self._prepare(t, self.device_) for t in islice(stream, N_VALIDATION_TASKS)
                ]
            self._fit_temperature(calibration)
        return self

    meta_fit.__doc__ = MetaEstimatorMixin.meta_fit.__doc__ + (
        "\n        Notes\n        -----\n"
        "        With ``temperature='fitted'``, the temperature is then fitted on\n"
        "        ``validation_tasks`` (or on episodes of ``tasks`` without them).\n"
    )

    # ----------------------------------------------------------------- maths
    def _episode_sampler(
        self, X: Any, y: Any, seed: int | None, n_way: int | None = None
    ) -> EpisodeSampler:
        """Meta-training episodes (``train_n_way``-way, else ``n_way``), or ``n_way``-way
        ones when ``n_way`` is given (to fit the temperature)."""
        calibration = n_way is not None
        training = not calibration and self.train_n_way is not None
        if n_way is None:
            n_way = self.n_way if self.train_n_way is None else self.train_n_way
        try:
            return EpisodeSampler(
                X, y, n_way=n_way, n_shot=self.n_shot, n_query=self.n_query, random_state=seed
            )
        except _TooFewClassesError as error:
            # name the parameter the user set: train_n_way or n_way
            name = "train_n_way" if training else "n_way"
            episodes = (
                "temperature='fitted' calibrates on n_way-way episodes of the pool, which "
                if calibration
                else "meta-training episodes "
            )
            raise ValueError(
                f"{name}={n_way}: {episodes}need {n_way} classes, but the meta-training "
                f"pool has only {error.n_classes}. Lower {name}"
                + (
                    ", add classes, or pass validation_tasks."
                    if calibration
                    else " or add classes."
                )
            ) from None

    def _meta_parameters(self, network: nn.Module) -> dict[str, torch.Tensor]:
        params = super()._meta_parameters(network)
        device = next(iter(params.values())).device if params else torch.device("cpu")
        start = 0.0 if isinstance(self.temperature, str) else math.log(self.temperature)
        params[_LOG_TEMPERATURE] = torch.tensor(start, device=device)
        return params

    def _forward(self, params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        encoder = {k: v for k, v in params.items() if k != _LOG_TEMPERATURE}
        return super()._forward(encoder, X)

    def _inverse_temperature(
        self, params: dict[str, torch.Tensor], training: bool = False
    ) -> float | torch.Tensor:
        if self.temperature == "learned" or (self.temperature == "fitted" and not training):
            return torch.exp(-params[_LOG_TEMPERATURE])
        if training:
            # "fitted" and a fixed temperature meta-train at temperature 1: the
            # temperature rescales predict_proba only, so it never changes what is learned
            # (nor, then, predict)
            return 1.0
        return 1.0 / self.temperature

    def _logits(self, z_query: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
        """Logits at temperature 1: negative squared distances, or scaled cosines."""
        if self.distance == "cosine":
            return _COSINE_SCALE * F.normalize(z_query, dim=1) @ F.normalize(prototypes, dim=1).T
        return -torch.cdist(z_query, prototypes).pow(2)

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        losses, correct, total = [], 0.0, 0
        scale = self._inverse_temperature(params, training=True)
        for t in tasks:
            z_s, z_q = self._embed(params, t.X_support, t.X_query)
            logits = scale * self._logits(z_q, _class_means(z_s, t.y_support, t.n_classes))
            losses.append(F.cross_entropy(logits, t.y_query))
            correct += float((logits.argmax(1) == t.y_query).sum())
            total += t.y_query.shape[0]
        return torch.stack(losses).mean(), {"accuracy": correct / total}

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        if has_task_norm(self.network_):
            # Batch-normalised encoders embed the support beside each query batch (the
            # statistics come from the support, or transductively from support + queries),
            # so embedding it here too would only double the work of `fit`.
            return {"params": params, "X_support": X, "y_support": y, "n_classes": n_classes}
        return {"params": params, "prototypes": self._prototypes(params, X, y, n_classes)}

    def _prototypes(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> torch.Tensor:
        """Class means of the support embeddings (normalised by support statistics)."""
        z_s, _ = self._embed(params, X, X[:0])
        return _class_means(z_s, y, n_classes)

    def _unscaled_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        params = state["params"]
        if "X_support" not in state:
            z = torch.cat(
                [self._embedding(self._forward(params, c)) for c in X.split(_PREDICT_CHUNK)]
            )
            return self._logits(z, state["prototypes"])
        logits = []
        for chunk in [X] if self.transductive else X.split(_PREDICT_CHUNK):
            z_s, z_q = self._embed(params, state["X_support"], chunk)
            prototypes = _class_means(z_s, state["y_support"], state["n_classes"])
            logits.append(self._logits(z_q, prototypes))
        return torch.cat(logits)

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        return self._inverse_temperature(state["params"]) * self._unscaled_scores(state, X)

    def _fit_temperature(self, tasks: list[PreparedTask]) -> None:
        """Set log T to minimise the mean query NLL of ``tasks`` (temperature scaling)."""
        params = self.meta_params_
        with torch.no_grad():
            logits, targets = [], []
            for t in tasks:
                state = self._adapt(params, t.X_support, t.y_support, t.n_classes)
                logits.append(self._unscaled_scores(state, t.X_query).double())
                targets.append(t.y_query)
        n_queries = sum(y.shape[0] for y in targets)

        def nll(log_t: float) -> float:
            scale = math.exp(-log_t)
            total = sum(
                F.cross_entropy(scale * z, y, reduction="sum") for z, y in zip(logits, targets)
            )
            return float(total) / n_queries

        best = minimize_scalar(nll, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded")
        params[_LOG_TEMPERATURE] = torch.tensor(
            float(best.x), dtype=params[_LOG_TEMPERATURE].dtype, device=self.device_
        )

    @property
    def prototypes_(self) -> Any:
        check_is_fitted(self)
        state = self.adaptation_
        if "prototypes" in state:
            return state["prototypes"].cpu().numpy()
        with torch.no_grad():
            prototypes = self._prototypes(
                state["params"], state["X_support"], state["y_support"], state["n_classes"]
            )
        return prototypes.cpu().numpy()

    @property
    def temperature_(self) -> float:
        check_is_fitted(self)
        return float(1.0 / self._inverse_temperature(self.adaptation_["params"]))
