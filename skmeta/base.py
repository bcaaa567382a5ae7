"""The meta-estimator contract: ``meta_fit(tasks)`` -> ``fit(X, y)`` -> ``predict(X)``.

Everything every meta-learner shares lives here, so that each algorithm only writes its
maths in four hooks:

* ``_build_network(input_shape, n_outputs)`` -> (module, per-example input shape);
* ``_meta_loss(params, tasks)`` -> (loss, metrics) for a meta-batch of prepared tasks;
* ``_adapt(params, X_support, y_support)`` -> the adapted state of one task;
* ``_predict_scores(state, X)`` -> class scores or regression outputs.

The mixin handles the forms a task collection takes, validation of inputs, devices,
seeding, the meta-training loop with its progress bar and history, early stopping on
validation tasks, checkpoint/resume, the exported `Prior`, and device-free pickling.

An estimator that meta-trains another way keeps all of that by overriding the stages of
`meta_fit` instead of `meta_fit` itself: ``_meta_data`` (what the meta-updates read),
``_start_meta_training`` (network and optimiser), ``_meta_update`` (one step),
``_restore_meta_training``, ``_finish_meta_training`` (the fitted state) and
``_end_meta_training`` (clean-up).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from numbers import Integral, Real
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils import assert_all_finite, check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _get_feature_names,
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from torch import nn
from tqdm.auto import tqdm

from .nn import network_input_shape
from .nn._allocator import _widen_cpu_heap
from .nn._functional import functional_call
from .tasks import EpisodeSampler, GroupedTasks, Task, iter_tasks

__all__ = [
    "MetaClassifierMixin",
    "MetaEstimatorMixin",
    "MetaRegressorMixin",
    "Prior",
    "resolve_device",
]

#: Validation tasks drawn from an endless sampler when no count is implied.
N_VALIDATION_TASKS = 100
_SEED_MAX = np.iinfo(np.int32).max


def resolve_device(device: str | torch.device) -> torch.device:
    """The torch device named by ``device``; "auto" is CUDA when present, else CPU.

    Resolving to the CPU raises glibc's adaptive heap thresholds once per process
    (`skmeta.nn._allocator._widen_cpu_heap`), so that the feature maps of one meta-update
    are reused by the next rather than returned to the system and faulted in again.

    Examples
    --------
    >>> from skmeta.base import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        # (falls through: "auto" on a CPU-only machine widens the heap like "cpu")
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}."
        ) from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine; use device='auto' "
            "to fall back to the CPU."
        )
    if resolved.type == "cpu":
        _widen_cpu_heap()
    return resolved


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside the block without touching the caller's global RNG state."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _place(module: nn.Module, device: torch.device) -> nn.Module:
    """``module.to(device)``, skipped when its tensors already live there.

    ``Module.to`` walks every submodule even when nothing moves (about 0.5 ms for Conv-4),
    which is a measurable share of a few-shot ``fit`` + ``predict``
    (``benchmarks/protonet_overhead.py``).
    """
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if all(t.device == device for t in chain(module.parameters(), module.buffers())):
        return module
    return module.to(device)


def _to_cpu(obj: Any) -> Any:
    """A copy of ``obj`` whose tensors and modules live on the CPU (for pickling)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, nn.Module):
        return copy.deepcopy(obj).cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def _all_finite(obj: Any, skip: frozenset[int] | set[int] = frozenset()) -> bool:
    """Whether every floating tensor in ``obj`` (nested dicts, lists, tuples) is finite;
    tensors whose id is in ``skip`` (the prior's own, checked already) are not read."""
    if isinstance(obj, torch.Tensor):
        return id(obj) in skip or not obj.is_floating_point() or bool(torch.isfinite(obj).all())
    if isinstance(obj, dict):
        return all(_all_finite(v, skip) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return all(_all_finite(v, skip) for v in obj)
    return True


def _match_feature_names(
    meta: list[str] | None, names: list[str] | None, est: Any, action: str, stacklevel: int
) -> None:
    """Columns ``names`` of the data against ``meta``, the prior's: an error when they
    differ, a warning when the data has none. ``action`` is "Adapt" or "Meta-train";
    ``stacklevel`` that of the warning, from this function to the user's call."""
    if meta is not None and names is not None and names != meta:
        moved = sorted(names) == sorted(meta)  # the same columns, in another order
        raise ValueError(
            f"The prior was meta-trained on the columns {meta[:6]}"
            f"{'...' if len(meta) > 6 else ''}, but X has the columns {names[:6]}"
            f"{'...' if len(names) > 6 else ''}. "
            + (
                "Reorder them: X[prior.feature_names], with prior = "
                "estimator.export_prior() (or the prior= you passed)."
                if moved
                else f"{action} with the features the prior was meta-trained on."
            )
        )
    if meta is not None and names is None:
        warnings.warn(
            f"X does not have feature names, but {type(est).__name__}'s prior was "
            "meta-trained with feature names; make sure the columns are in the "
            "meta-training order.",
            UserWarning,
            stacklevel=stacklevel,
        )


def _task_feature_names(tasks: Any) -> list[str] | None:
    """The columns of a list of (X, y) pairs with DataFrame inputs (None otherwise); an
    error when two tasks' columns differ, which would mix features silently."""
    if not isinstance(tasks, (list, tuple)):
        return None
    found: list[str] | None = None
    for index, pair in enumerate(tasks):
        if isinstance(pair, Task) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            return None
        names = _get_feature_names(pair[0])
        names = None if names is None else names.tolist()
        if index == 0:
            found = names
        elif names != found:
            raise ValueError(
                f"Task {index} has the columns {names if names is None else names[:6]}, but "
                f"task 0 has {found if found is None else found[:6]}; every task must share "
                "one input space, with its columns in one order."
            )
    return found


def _param_shapes(params: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in params.items()}


@dataclass
class Prior:
    """A meta-trained prior θ*, exported from an estimator: device-free and picklable.

    Pass it (or the path it was saved to) as the ``prior`` parameter of an estimator, so
    that clones made by `sklearn.base.clone`, `GridSearchCV` or `Pipeline` carry it.

    Attributes
    ----------
    estimator : str
        Class name of the estimator that meta-trained it.
    params : dict of str to torch.Tensor
        The network's parameters, on the CPU.
    input_shape : tuple of int
        Per-example shape the network takes (e.g. ``(1, 28, 28)``).
    config : dict
        The estimator parameters that fix the architecture.
    meta_history : list of dict
        The meta-training history.
    feature_names : list of str or None
        The column names of the DataFrame it was meta-trained on, if any: `fit` checks a
        support set's columns against them.

    Examples
    --------
    >>> from skmeta import ProtoNetClassifier
    >>> import numpy as np
    >>> X, y = np.random.default_rng(0).normal(size=(60, 4)), np.repeat(np.arange(6), 10)
    >>> est = ProtoNetClassifier(n_way=3, n_query=5, n_meta_iterations=2, random_state=0)
    >>> est = est.meta_fit(X, y)
    >>> prior = est.export_prior()
    >>> ProtoNetClassifier(prior=prior).fit(X[:6], y[:6]).predict(X[:2]).shape
    (2,)
    """

    estimator: str
    params: dict[str, torch.Tensor]
    input_shape: tuple[int, ...]
    config: dict[str, Any] = field(default_factory=dict)
    meta_history: list[dict[str, Any]] = field(default_factory=list)
    feature_names: list[str] | None = None

    def save(self, path: str | os.PathLike) -> None:
        """Write the prior to ``path`` (a torch file that loads with ``weights_only=True``)."""
        torch.save(
            {
                "format": "skmeta.Prior/1",
                "estimator": self.estimator,
                "params": {k: v.detach().cpu() for k, v in self.params.items()},
                "input_shape": list(self.input_shape),
                "config": self.config,
                "meta_history": self.meta_history,
                "feature_names": self.feature_names,
            },
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Prior:
        """Read a prior written by `save`, on any machine (tensors land on the CPU)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"No prior at {str(path)!r}. Save one with estimator.export_prior(path) after "
                "meta_fit, or pass the Prior object itself as prior=."
            )
        data = _torch_load(
            path,
            "a prior saved by skmeta's Prior.save",
            "Check the path, or save the prior again with estimator.export_prior(path).",
        )
        if not isinstance(data, dict) or data.get("format") != "skmeta.Prior/1":
            raise ValueError(f"{str(path)!r} is not a prior saved by skmeta's Prior.save.")
        return cls(
            estimator=data["estimator"],
            params=data["params"],
            input_shape=tuple(data["input_shape"]),
            config=data["config"],
            meta_history=data["meta_history"],
            feature_names=data.get("feature_names"),
        )

    def __repr__(self) -> str:
        n = sum(v.numel() for v in self.params.values())
        return (
            f"Prior(estimator={self.estimator!r}, input_shape={self.input_shape}, "
            f"n_parameters={n}, meta_iterations={len(self.meta_history)})"
        )


class PreparedTask(NamedTuple):
    """A task as tensors on the estimator's device, labels encoded ``0..n_classes-1``."""

    X_support: torch.Tensor
    y_support: torch.Tensor
    X_query: torch.Tensor
    y_query: torch.Tensor | None
    n_classes: int


class MetaData(NamedTuple):
    """What `meta_fit` reads, as its stages see it."""

    #: Items the meta-updates consume: tasks, or whatever the estimator trains on.
    stream: Iterator[Any]
    #: Per-example shape of the inputs.
    input_shape: tuple[int, ...]
    #: Items of ``stream`` per meta-update (``meta_batch_size`` tasks by default).
    items_per_update: int
    #: Anything else the estimator's stages need to know about the data.
    source: Any = None


class MetaEstimatorMixin:
    """The meta-learning contract shared by every skmeta estimator.

    Subclasses list their constructor parameters, declare ``_parameter_constraints`` and
    ``_architecture_params`` (the parameters that fix the network, checked against a
    prior), and implement the four hooks named in the module docstring.
    """

    _parameter_constraints: dict = {
        "meta_lr": [Interval(Real, 0, None, closed="neither")],
        "n_meta_iterations": [Interval(Integral, 0, None, closed="left")],
        "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_interval": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "prior": [Prior, str, os.PathLike, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _architecture_params: tuple[str, ...] = ()
    # Those of them that change how the network computes but no parameter's shape (e.g.
    # attention heads): a prior that differs in one is refused although its shapes fit.
    _shape_free_params: tuple[str, ...] = ()
    _is_classifier = False

    # ------------------------------------------------------------------ hooks
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        raise NotImplementedError

    def _meta_parameters(self, network: nn.Module) -> dict[str, torch.Tensor]:
        """The meta-learned parameters θ: by default the network's own (copies)."""
        return {k: v.detach().clone() for k, v in network.named_parameters()}

    def _network_input_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The per-example shape the network takes for examples of ``input_shape``."""
        return network_input_shape(self.backbone, input_shape)

    def _meta_loss(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def _meta_gradient(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> tuple[float, dict[str, float]]:
        """Accumulate the meta-gradient of a meta-batch into ``.grad``; return the loss.

        Override to bound memory, e.g. by back-propagating chunks of tasks in turn.
        """
        loss, metrics = self._meta_loss(params, tasks)
        loss.backward()
        return float(loss.detach()), metrics

    def _meta_update(
        self,
        batch: list[Any],
        params: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        device: torch.device,
    ) -> tuple[float, dict[str, float]]:
        """One meta-update from ``items_per_update`` items of the stream; return the loss.

        Override to train another way (e.g. a supervised step driven by skorch).
        """
        prepared = [self._prepare(t, device) for t in batch]
        optimizer.zero_grad(set_to_none=True)
        loss, metrics = self._meta_gradient(params, prepared)
        optimizer.step()
        return loss, metrics

    def _divergence_hint(self, stage: str) -> str:
        """How to fix a diverged ``stage`` ("meta-training" or "adaptation"): the step
        sizes this estimator has, with their values."""
        names = ("inner_lr",) if stage == "adaptation" else ("meta_lr", "inner_lr")
        rates = [f"{n}={getattr(self, n)!r}" for n in names if hasattr(self, n)]
        if not rates:
            return "Check the prior for nan values (Prior.load) and scale the features."
        return (
            f"Lower the step size ({', '.join(rates)}) or scale the features, e.g. with a "
            "StandardScaler."
        )

    def _scheduled_meta_lr(self, done: int) -> float | None:
        """The learning rate of the meta-update after ``done`` meta-updates, for
        estimators with a step schedule (``meta_lr_decay_interval``); None leaves the
        optimiser's rate as it is."""
        interval = getattr(self, "meta_lr_decay_interval", None)
        if interval is None:
            return None
        return self.meta_lr * self.meta_lr_decay ** (done // interval)

    def _make_optimizer(self, params: list[torch.Tensor]) -> torch.optim.Optimizer:
        """The outer-loop optimiser: Adam at ``meta_lr``."""
        return torch.optim.Adam(params, lr=self.meta_lr)

    # ------------------------------------------------- stages of meta_fit
    # `meta_fit` owns seeding, checkpoints, validation, the loop and the fitted state; an
    # estimator that meta-trains another way (e.g. supervised pretraining driven by
    # skorch) overrides these stages rather than `meta_fit`.
    def _meta_data(self, tasks: Any, y: Any, groups: Any, seed: int) -> MetaData:
        """What meta-training reads: tasks, ``meta_batch_size`` per meta-update."""
        stream = self._task_stream(tasks, y, groups, seed)
        first = next(stream, None)
        if first is None:
            raise ValueError("meta_fit received no tasks.")
        return MetaData(
            stream=_Peeked(first, stream),
            input_shape=tuple(first.X_support.shape[1:]),
            items_per_update=self.meta_batch_size,
        )

    def _start_meta_training(
        self, data: MetaData, device: torch.device
    ) -> tuple[dict[str, torch.Tensor], torch.optim.Optimizer]:
        """Build the network (``network_``, ``net_input_shape_``) and return θ and its
        optimiser; runs under the initialisation seed."""
        network, net_shape = self._build_network(data.input_shape, self._meta_n_outputs())
        network = network.to(device)
        params = self._initial_params(network, net_shape, data.input_shape, device)
        for p in params.values():
            p.requires_grad_(True)
        self.network_, self.net_input_shape_ = network, net_shape
        return params, self._make_optimizer(list(params.values()))

    def _restore_meta_training(
        self,
        state: dict[str, Any],
        params: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
    ) -> _MetaLoop:
        """Load a checkpoint's θ and optimiser state; return the loop it stopped in."""
        return _restore(state, params, optimizer)

    def _finish_meta_training(
        self, loop: _MetaLoop, params: dict[str, torch.Tensor], validated: bool
    ) -> None:
        """Store the fitted state: θ* (the best validated θ, else the last) and history."""
        # (a run resumed without validation keeps its last θ, not the checkpoint's best)
        chosen = loop.best_params if validated and loop.best_params is not None else params
        self.meta_params_ = {k: v.detach().clone() for k, v in chosen.items()}
        self.meta_history_ = loop.history
        self.n_meta_iter_ = loop.start
        if validated:
            self.best_meta_iteration_ = loop.best_iteration
            self.best_validation_score_ = loop.best_score

    def _end_meta_training(self) -> None:
        """Release what `_start_meta_training` held; runs even when meta-training failed."""

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        raise NotImplementedError

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _episode_sampler(self, X: np.ndarray, y: np.ndarray, seed: int) -> Iterable[Task]:
        raise ValueError(
            f"{type(self).__name__}.meta_fit(X, y) needs groups=... naming the task of each "
            "row, or a list of tasks."
        )

    def _n_support(self) -> int | float:
        """Support examples per task (per class when stratified) when splitting raw tasks."""
        return 0.5

    # ------------------------------------------------------------ public API
    def meta_fit(
        self,
        tasks: Any,
        y: Any = None,
        groups: Any = None,
        *,
        validation_tasks: Any = None,
        checkpoint: str | os.PathLike | None = None,
        checkpoint_interval: int = 50,
        callbacks: Iterable[Callable[[Any, dict], None]] | None = None,
    ) -> MetaEstimatorMixin:
        """Learn the prior θ* from many tasks (meta-training).

        Parameters
        ----------
        tasks : iterable of Task or of (X, y) pairs, or array-like
            The meta-training tasks: a list, or a sampler such as
            `skmeta.tasks.EpisodeSampler` (endless samplers are read as they come,
            finite collections are cycled over). With ``y`` given, ``tasks`` is the input
            array ``X``: with ``groups``, each group of rows is a task; without, a
            classifier draws ``n_way``-way ``n_shot``-shot episodes from the pool.
        y : array-like of shape (n_samples,), default=None
            Targets, when ``tasks`` is an array.
        groups : array-like of shape (n_samples,), default=None
            The task of each row, when ``tasks`` is an array.
        validation_tasks : same forms as ``tasks``, default=None
            Meta-validation tasks, scored every ``validation_interval`` meta-updates. The
            prior kept is the one with the best validation score, and training stops
            after ``patience`` validations without improvement.
        checkpoint : str or path-like, default=None
            File to save meta-training state to every ``checkpoint_interval`` meta-updates
            and when interrupted. If it exists, meta-training resumes from it.
        checkpoint_interval : int, default=50
        callbacks : list of callables, default=None
            Each is called as ``callback(estimator, record)`` after every meta-update, with
            the record that goes into ``meta_history_`` (``iteration``, ``loss``, and
            ``val_score`` when validation ran). A callback may raise to stop meta-training;
            `skmeta.search.MetaSearch` uses this to prune trials across iterations.

        Returns
        -------
        self : object
            The estimator, holding ``meta_params_`` and ``meta_history_``.
        """
        self._validate_params()
        callbacks = _check_meta_fit_arguments(checkpoint, checkpoint_interval, callbacks)
        if getattr(self, "patience", None) is not None and validation_tasks is None:
            warnings.warn(
                f"patience={self.patience} stops meta-training after that many validations "
                "without improvement, but no validation_tasks were given: it has no effect. "
                "Pass validation_tasks=... to meta_fit.",
                UserWarning,
                stacklevel=2,
            )
        device = resolve_device(self.device)
        rs = check_random_state(self.random_state)
        seeds = tuple(int(s) for s in rs.randint(_SEED_MAX, size=3))
        state = _load_checkpoint(checkpoint, self._checkpoint_key())
        if state is not None:
            seeds = tuple(state["seeds"])
        init_seed, stream_seed, val_seed = seeds

        # A meta_fit that fails (bad tasks or arguments, an exception in a callback) or
        # is interrupted leaves the estimator as it was: its earlier prior and adaptation
        # are not thrown away. (A checkpoint keeps the progress of an interrupted run.)
        with _unchanged_on_error(self):
            data = self._meta_data(tasks, y, groups, stream_seed)
            for name in ("network_", "net_input_shape_", "meta_params_", "meta_history_"):
                self.__dict__.pop(name, None)
            self._clear_adaptation()
            self.meta_input_shape_ = data.input_shape
            if y is not None:
                names = _get_feature_names(tasks)
                names = None if names is None else names.tolist()
            else:
                names = _task_feature_names(tasks)
            if self.prior is not None:
                _match_feature_names(
                    self._loaded_prior().feature_names, names, self, "Meta-train", 3
                )
            self._meta_feature_names = names
            self._meta_architecture = self._architecture_config()
            self.device_ = device
            validation = self._validation_list(validation_tasks, val_seed, device)
            with _seeded(init_seed, device):
                params, optimizer = self._start_meta_training(data, device)
            self.network_.eval()  # training mode for the meta-updates only
            try:
                # (what the checkpoint records of its validation tasks: none without one)
                fingerprint = None if checkpoint is None else _validation_fingerprint(validation)
                loop = _MetaLoop(
                    history=[], best_score=-math.inf, best_params=None, stale=0, start=0
                )
                if state is not None:
                    loop = self._restore_meta_training(state, params, optimizer)
                    if "validation" in state and state["validation"] != fingerprint:
                        _select_afresh(loop, state["validation"], fingerprint)
                    _fast_forward(
                        data.stream, loop.start * data.items_per_update, state.get("stream")
                    )
                loop.validation = fingerprint
                self._run_meta_loop(
                    loop,
                    data,
                    params,
                    optimizer,
                    validation,
                    device,
                    init_seed,
                    checkpoint,
                    checkpoint_interval,
                    seeds,
                    list(callbacks or ()),
                )
                self._finish_meta_training(loop, params, validation is not None)
            finally:
                self._end_meta_training()
                if "network_" in self.__dict__:
                    self.network_.eval()  # (a meta_fit that failed restores the old one)
        return self

    def fit(self, X: Any, y: Any, groups: Any = None) -> MetaEstimatorMixin:
        """Adapt to one task from its labelled support set.

        Every call starts again from the prior (``meta_params_`` after `meta_fit`, else
        the ``prior`` parameter, else a fresh initialisation seeded by ``random_state``)
        and never changes it.

        Parameters
        ----------
        X : array-like of shape (n_support, ...)
            Support inputs.
        y : array-like of shape (n_support,)
            Support targets.
        groups : array-like of shape (n_samples,), default=None
            If given, the rows are many tasks and ``fit`` meta-trains on them instead
            (``meta_fit(X, y, groups)``). This is how `GridSearchCV` tunes
            meta-parameters: route ``groups`` with metadata routing, split with
            `GroupKFold` and score with `skmeta.evaluation.episodic_scorer`.

        Returns
        -------
        self : object
        """
        if groups is not None:
            return self.meta_fit(X, y, groups)
        self._validate_params()
        with _unchanged_on_error(self):  # a rejected support set keeps the last adaptation
            X, y = self._validate_support(X, y)
            # the prior file is read once per fit: for the column check and for θ
            prior = None if hasattr(self, "meta_params_") else self._loaded_prior()
            self._check_feature_names(prior)
            device = resolve_device(self.device)
            params = self._prior_params(X.shape[1:], device, prior)
            X_t = self._to_tensor(X, device)
            y_t = torch.as_tensor(y, device=device)
            with torch.no_grad():
                self.adaptation_ = self._adapt(params, X_t, y_t, self._n_outputs())
            if not _all_finite(self.adaptation_, {id(v) for v in params.values()}):
                raise ValueError(
                    f"{type(self).__name__} diverged while adapting to the support set: "
                    "its task parameters hold nan or inf. " + self._divergence_hint("adaptation")
                )
            self.device_ = device
        return self

    def _check_feature_names(self, prior: Prior | None) -> None:
        """The support set's columns against those of meta-training (or of ``prior``, the
        ``prior`` parameter read), as scikit-learn checks ``predict``'s against ``fit``'s."""
        if hasattr(self, "meta_params_"):
            meta = getattr(self, "_meta_feature_names", None)
        elif prior is not None:
            meta = prior.feature_names
        else:
            return  # a fresh network has nothing to match
        names = getattr(self, "feature_names_in_", None)
        names = None if names is None else names.tolist()
        _match_feature_names(meta, names, self, "Adapt", stacklevel=4)

    def export_prior(self, path: str | os.PathLike | None = None) -> Prior:
        """Export the meta-trained prior (and save it to ``path`` if given).

        Returns
        -------
        prior : Prior
            Pass it as ``prior=`` to a new estimator; it survives `clone`.
        """
        if not hasattr(self, "meta_params_"):
            raise NotFittedError(
                f"This {type(self).__name__} has no meta-trained prior to export; call "
                "meta_fit(tasks) first."
            )
        prior = Prior(
            estimator=type(self).__name__,
            params={k: v.detach().cpu().clone() for k, v in self.meta_params_.items()},
            input_shape=tuple(self.net_input_shape_),
            config=getattr(self, "_meta_architecture", None) or self._architecture_config(),
            meta_history=list(self.meta_history_),
            feature_names=getattr(self, "_meta_feature_names", None),
        )
        if path is not None:
            prior.save(path)
        return prior

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "adaptation_")

    def __getstate__(self) -> dict[str, Any]:
        # Device-free pickles: a model adapted on a GPU unpickles on a CPU-only machine.
        return _to_cpu(super().__getstate__())

    # ------------------------------------------------------------ internals
    def _checkpoint_key(self) -> dict[str, str]:
        keep = ("n_meta_iterations", "verbose", "patience", "validation_interval", "device")
        key = {k: repr(v) for k, v in self.get_params(deep=False).items() if k not in keep}
        return {**key, "estimator": type(self).__name__}

    def _architecture_config(self) -> dict[str, Any]:
        config = {}
        for name in self._architecture_params:
            value = getattr(self, name)
            if isinstance(value, nn.Module):
                value = type(value).__name__
            elif isinstance(value, (list, tuple, np.ndarray)):
                # plain Python values: comparable with != and loadable by torch's
                # weights-only unpickler (a numpy array or numpy ints are neither)
                value = tuple(np.asarray(value).tolist())
            elif isinstance(value, np.generic):
                value = value.item()
            if name.endswith("layer_sizes") and isinstance(value, Integral):
                value = (value,)  # one int is one layer: the same network as (int,)
            config[name] = value
        return config

    def _check_architecture(self) -> None:
        """The architecture parameters must be those `meta_fit` built the network with."""
        meta = getattr(self, "_meta_architecture", None)  # None: pickled before it existed
        if meta is None:
            return
        now = self._architecture_config()
        for name, value in now.items():
            if name in meta and meta[name] != value:
                raise ValueError(
                    f"This {type(self).__name__} was meta-trained with {name}={meta[name]!r}, "
                    f"but {name} is now {value!r}; the meta-trained network keeps the "
                    f"architecture it was built with. Set {name}={meta[name]!r} again to "
                    f"adapt with the meta-trained prior, or call meta_fit to meta-train one "
                    f"with {name}={value!r}."
                )

    def _clear_adaptation(self) -> None:
        for name in (
            "adaptation_",
            "classes_",
            "n_features_in_",
            "feature_names_in_",
            "input_shape_",
        ):
            self.__dict__.pop(name, None)

    def _n_outputs(self) -> int:
        """Outputs of a network built at `fit` (no prior): 1, or the support's classes."""
        return 1

    def _meta_n_outputs(self) -> int:
        """Outputs of a network built for meta-training: 1, or ``n_way`` classes."""
        return 1

    def _forward(self, params: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        """Run the network with parameters ``params`` (functional: the module keeps its own)."""
        x = X.reshape(X.shape[0], *self.net_input_shape_)
        return functional_call(self.network_, params, (x,))

    def _to_tensor(self, X: np.ndarray, device: torch.device) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32), device=device)

    def _task_stream(self, tasks: Any, y: Any, groups: Any, seed: int) -> Iterator[Task]:
        n_shot = getattr(self, "n_shot", None)
        if y is None:
            if groups is not None:
                raise ValueError("groups were given without y; call meta_fit(X, y, groups).")
            source: Iterable = tasks
        elif groups is not None:
            source = GroupedTasks(
                tasks,
                y,
                groups,
                self._n_support(),
                stratify=self._is_classifier,  # by estimator, not by the labels' dtype
                n_passes=None,
                random_state=seed,
            )
            if self._is_classifier:
                _check_group_classes([source.y[rows] for rows in source._rows])
        else:
            source = self._episode_sampler(tasks, y, seed)
        return iter_tasks(source, n_shot=n_shot, random_state=seed, stratify=self._is_classifier)

    def _validation_list(
        self, validation_tasks: Any, seed: int, device: torch.device
    ) -> list[PreparedTask] | None:
        if validation_tasks is None:
            return None
        if isinstance(validation_tasks, tuple) and len(validation_tasks) in (2, 3):
            raise TypeError(
                "validation_tasks takes a list of tasks or a sampler; for arrays, build one "
                "with skmeta.tasks.EpisodeSampler or skmeta.tasks.tasks_from_groups."
            )
        endless = getattr(validation_tasks, "_draws_endlessly", False)  # has no length
        n = (
            len(validation_tasks)
            if isinstance(validation_tasks, Sized) and not endless
            else N_VALIDATION_TASKS
        )
        if n == 0:
            raise ValueError(
                "validation_tasks is empty. Give meta-validation tasks (e.g. an "
                "EpisodeSampler over held-out classes with n_episodes=...), or leave "
                "validation_tasks=None to keep the last prior."
            )
        stream = iter_tasks(
            validation_tasks,
            n_shot=getattr(self, "n_shot", None),
            random_state=seed,
            stratify=self._is_classifier,
        )
        return [self._prepare(t, device) for t in islice(stream, n)]

    def _prepare(self, task: Task, device: torch.device) -> PreparedTask:
        """Encode and move one task; check it against the network's input shape."""
        if task.X_query is None or task.y_query is None:
            raise ValueError(
                "Meta-training and validation tasks need a labelled query set (X_query, "
                "y_query); this task has none."
            )
        if len(task.y_query) == 0:
            raise ValueError(
                "Meta-training and validation tasks need at least one query example; this "
                "task's query set is empty (e.g. an EpisodeSampler with n_query=0). Give "
                "each task query examples: n_query >= 1."
            )
        expected = getattr(self, "meta_input_shape_", None)
        if expected is not None and task.X_support.shape[1:] != tuple(expected):
            raise ValueError(
                f"Tasks must share one input space: this task's examples have shape "
                f"{task.X_support.shape[1:]}, earlier ones {tuple(expected)}."
            )
        y_s, y_q, n_classes = self._encode_task_targets(task.y_support, task.y_query)
        return PreparedTask(
            self._to_tensor(task.X_support, device),
            torch.as_tensor(y_s, device=device),
            self._to_tensor(task.X_query, device),
            torch.as_tensor(y_q, device=device),
            n_classes,
        )

    def _encode_task_targets(
        self, y_support: np.ndarray, y_query: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int]:
        return _regression_targets(y_support), _regression_targets(y_query), 0

    def _initial_params(
        self,
        network: nn.Module,
        net_shape: tuple[int, ...],
        input_shape: tuple[int, ...],
        device: torch.device,
        prior: Prior | None = None,
    ) -> dict[str, torch.Tensor]:
        """θ to start from: the ``prior`` parameter if given, else the fresh network's.
        ``prior`` is that parameter already read (`_loaded_prior`); None reads it."""
        fresh = self._meta_parameters(network)
        prior = prior if prior is not None else self._loaded_prior()
        if prior is None:
            return fresh
        return self._params_from_prior(prior, fresh, net_shape, input_shape, device)

    def _loaded_prior(self) -> Prior | None:
        """The ``prior`` parameter as a `Prior` (read from its file for a path), or None."""
        if self.prior is None or isinstance(self.prior, Prior):
            return self.prior
        return Prior.load(self.prior)

    def _params_from_prior(
        self,
        prior: Prior,
        fresh: dict[str, torch.Tensor],
        net_shape: tuple[int, ...],
        input_shape: tuple[int, ...],
        device: torch.device,
        config: dict[str, Any] | None = None,
    ) -> dict[str, torch.Tensor]:
        """The prior's values of the fresh network's parameters, checked against it (and
        its architecture against ``config``, by default this estimator's)."""
        if config is None:
            config = self._architecture_config()
        _check_prior(
            prior,
            fresh,
            net_shape,
            input_shape,
            type(self).__name__,
            config,
            self._shape_free_params,
        )
        return {
            k: prior.params[k].to(device=device, dtype=v.dtype).clone() for k, v in fresh.items()
        }

    def _prior_params(
        self, input_shape: tuple[int, ...], device: torch.device, prior: Prior | None = None
    ) -> dict[str, torch.Tensor]:
        """θ that `fit` adapts from; builds the network on first use. ``prior``: the
        ``prior`` parameter already read, if it was (see `_initial_params`)."""
        if hasattr(self, "meta_params_"):
            self._check_architecture()
            try:
                shape = tuple(self._network_input_shape(tuple(input_shape)))
            except ValueError:  # e.g. too small for Conv-4: the mismatch is the message
                shape = None
            if shape != tuple(self.net_input_shape_):
                raise ValueError(
                    f"This estimator was meta-trained on examples of shape "
                    f"{tuple(self.meta_input_shape_)} (network input "
                    f"{tuple(self.net_input_shape_)}), "
                    f"but X has examples of shape {tuple(input_shape)}. Adapt with data of the "
                    "features the prior was meta-trained on."
                )
            self.network_ = _place(self.network_, device)
            return {k: v.to(device) for k, v in self.meta_params_.items()}
        seed = int(check_random_state(self.random_state).randint(_SEED_MAX))
        try:
            with _seeded(seed, device):
                network, net_shape = self._build_network(tuple(input_shape), self._n_outputs())
        except ValueError as error:
            prior = prior if prior is not None else self._loaded_prior()
            if prior is None:
                raise
            # the prior's network took its inputs: the data is what differs
            raise ValueError(
                f"The prior was meta-trained on inputs of shape {tuple(prior.input_shape)}, "
                f"but X has examples of shape {tuple(input_shape)}, which its network cannot "
                f"take ({str(error).rstrip('.')}). Use data with the features the prior was "
                "meta-trained on."
            ) from None
        self.network_, self.net_input_shape_ = network.to(device).eval(), net_shape
        return self._initial_params(self.network_, net_shape, tuple(input_shape), device, prior)

    def _validate_X(self, X: Any, reset: bool) -> np.ndarray:
        """Validate inputs: 2-D through sklearn (feature names, n_features_in_), or images."""
        arr_ndim = _ndim(X)
        fitted = None if reset else getattr(self, "input_shape_", None)  # None: flat rows
        if arr_ndim <= 2:
            X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64])
            # Flat rows for a model fitted on images: the images, flattened (C order).
            return X if fitted is None else X.reshape(len(X), *fitted)
        X = check_array(X, allow_nd=True, dtype=[np.float32, np.float64], input_name="X")
        shape = tuple(X.shape[1:])
        if reset:
            self.n_features_in_ = int(np.prod(shape))
            self.input_shape_ = shape
        elif fitted is None and hasattr(self, "n_features_in_"):
            # Fitted on flat rows: images of as many values are those rows, unflattened.
            if int(np.prod(shape)) != self.n_features_in_:
                raise ValueError(
                    f"X has examples of shape {shape} ({int(np.prod(shape))} values), but "
                    f"{type(self).__name__} was fitted on rows of {self.n_features_in_} "
                    "features. Pass examples with as many values as the support set's."
                )
            return validate_data(
                self, X.reshape(len(X), -1), reset=False, dtype=[np.float32, np.float64]
            )
        elif shape != fitted:
            raise ValueError(
                f"X has examples of shape {shape}, but {type(self).__name__} was fitted on "
                f"examples of shape {fitted}. Pass examples of shape {fitted} (or flattened, "
                f"rows of {self.n_features_in_} features), as in the support set."
            )
        return X

    def _validate_support(self, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError(
                f"{type(self).__name__}.fit requires y to be passed, but the target y is None: "
                "give the labels (or targets) of the support set."
            )
        self._clear_adaptation()
        if _ndim(X) > 2:
            X = self._validate_X(X, reset=True)
            y = column_or_1d(y, warn=True)
            check_consistent_length(X, y)
            if not self._is_classifier:
                assert_all_finite(_regression_targets(y), input_name="y")
        else:
            X, y = validate_data(
                self, X, y, dtype=[np.float32, np.float64], y_numeric=not self._is_classifier
            )
        return X, self._encode_fit_targets(y)

    def _encode_fit_targets(self, y: np.ndarray) -> np.ndarray:
        return _regression_targets(y)

    def _scores(self, X: Any, scorer: Callable | None = None) -> np.ndarray:
        """``scorer(state, X)`` (default: `_predict_scores`) on validated queries, as numpy."""
        check_is_fitted(self, msg=_not_adapted_message(self))
        X = self._validate_X(X, reset=False)
        device = resolve_device(self.device)
        state = {k: _move(v, device) for k, v in self.adaptation_.items()}
        _place(self.network_, device)  # placement only (e.g. after unpickling a GPU model)
        scorer = scorer or self._predict_scores
        with torch.no_grad():
            return scorer(state, self._to_tensor(X, device)).cpu().numpy()

    def _run_meta_loop(
        self,
        loop,
        data,
        params,
        optimizer,
        validation,
        device,
        seed,
        checkpoint,
        every,
        seeds,
        callbacks=(),
    ) -> None:
        total = self.n_meta_iterations
        bar = tqdm(
            total=total,
            initial=loop.start,
            disable=not self.verbose,
            desc=f"meta_fit {type(self).__name__}",
            leave=False,
        )

        # The stream's position after loop.start meta-updates, for the checkpoint (None:
        # no checkpoint, or the stream cannot tell and a resumed run replays it).
        keep = checkpoint is not None and _resumable(data.stream)
        position = data.stream.get_state if keep else lambda: None

        def save(rng_state: torch.Tensor) -> None:
            if checkpoint is not None:
                key = self._checkpoint_key()
                _save_checkpoint(
                    checkpoint, key, seeds, loop, params, optimizer, rng_state, stream_state
                )

        stream_state = position()
        # A user's module may behave otherwise in training mode (dropout); skmeta's own
        # layers do not, and switching costs about 4 us per submodule and update.
        switch = any(isinstance(v, nn.Module) for v in self.get_params(deep=False).values())

        with _seeded(seed, device):
            if loop.rng_state is not None:
                torch.set_rng_state(loop.rng_state)
            try:
                # (a run resumed from the checkpoint of an early-stopped one stays stopped)
                while loop.start < total and not (
                    self.patience is not None and loop.stale >= self.patience
                ):
                    batch = list(islice(data.stream, data.items_per_update))
                    if not batch:
                        warnings.warn(
                            f"The task stream ran out after {loop.start} meta-updates "
                            f"(n_meta_iterations={total}); pass an endless sampler or a list "
                            "to cycle over.",
                            UserWarning,
                            stacklevel=3,
                        )
                        break
                    tic = time.perf_counter()
                    lr = self._scheduled_meta_lr(loop.start)
                    if lr is not None:
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                    with _training_mode(self.network_, switch):
                        loss, metrics = self._meta_update(batch, params, optimizer, device)
                    if not math.isfinite(loss):
                        raise ValueError(
                            f"Meta-training diverged: the meta-loss of meta-update "
                            f"{loop.start + 1} is {loss}. "
                            + self._divergence_hint("meta-training")
                            + (
                                " The checkpoint keeps the last finite state."
                                if checkpoint is not None and loop.start >= every
                                else ""
                            )
                        )
                    loop.start += 1
                    stream_state = position()
                    record = {"iteration": loop.start, "loss": loss, **metrics}
                    if lr is not None:
                        record["meta_lr"] = lr
                    if validation is not None and (
                        loop.start % self.validation_interval == 0 or loop.start == total
                    ):
                        score = self._validation_score(params, validation)
                        record["val_score"] = score
                        loop.update(score, params, loop.start)
                    record["time"] = time.perf_counter() - tic
                    loop.history.append(record)
                    bar.update(1)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if k != "iteration"})
                    if checkpoint is not None and loop.start % every == 0:
                        save(torch.get_rng_state())
                    for callback in callbacks:
                        callback(self, record)
                    if self.patience is not None and loop.stale >= self.patience:
                        break
            except KeyboardInterrupt:
                save(torch.get_rng_state())
                raise
            finally:
                bar.close()
            save(torch.get_rng_state())

    def _validation_score(
        self, params: dict[str, torch.Tensor], tasks: list[PreparedTask]
    ) -> float:
        """Mean score over validation tasks: accuracy, or negative MSE for regressors."""
        scores = []
        with torch.no_grad():
            frozen = {k: v.detach() for k, v in params.items()}
            for t in tasks:
                state = self._adapt(frozen, t.X_support, t.y_support, t.n_classes)
                scores.append(self._task_score(self._predict_scores(state, t.X_query), t.y_query))
        return float(np.mean(scores))

    def _task_score(self, scores: torch.Tensor, y: torch.Tensor) -> float:
        return -float(torch.mean((scores.reshape(-1) - y) ** 2))


class MetaClassifierMixin(ClassifierMixin):
    """Classification on top of `MetaEstimatorMixin`: labels, ``predict_proba``, accuracy."""

    _is_classifier = True
    #: Constraints of the episode parameters every meta-classifier has.
    _episode_constraints: dict = {
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "n_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
    }

    def _episode_sampler(self, X: Any, y: Any, seed: int) -> Iterable[Task]:
        return EpisodeSampler(
            X, y, n_way=self.n_way, n_shot=self.n_shot, n_query=self.n_query, random_state=seed
        )

    def _n_support(self) -> int:
        return self.n_shot

    def _encode_task_targets(
        self, y_support: np.ndarray, y_query: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, int]:
        classes, y_s = np.unique(y_support, return_inverse=True)
        pos = np.searchsorted(classes, y_query)
        pos = np.clip(pos, 0, classes.shape[0] - 1)
        unseen = classes[pos] != y_query
        if np.any(unseen):
            raise ValueError(
                f"A task's query set has labels {np.unique(y_query[unseen])[:5].tolist()} that "
                "its support set does not contain; every query class needs support examples."
            )
        return y_s, pos, int(classes.shape[0])

    def _encode_fit_targets(self, y: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            # Few-shot support sets have as many classes as examples (1-shot) by design.
            warnings.filterwarnings("ignore", message="The number of unique classes")
            check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        return encoded

    def _n_outputs(self) -> int:
        return int(self.classes_.shape[0])

    def _meta_n_outputs(self) -> int:
        return int(self.n_way)

    def _task_score(self, scores: torch.Tensor, y: torch.Tensor) -> float:
        return float((scores.argmax(dim=1) == y).float().mean())

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities for the adapted task, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        logits = torch.from_numpy(self._scores(X).astype(np.float64))
        return torch.softmax(logits, dim=1).numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of the class probabilities, columns ordered as ``classes_``.

        Computed from the scores directly (no ``log(0)`` for confident predictions).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        logits = torch.from_numpy(self._scores(X).astype(np.float64))
        return torch.log_softmax(logits, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels for the adapted task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        scores = self._scores(X)
        return self.classes_[np.argmax(scores, axis=1)]


class MetaRegressorMixin(RegressorMixin):
    """Regression on top of `MetaEstimatorMixin`: real-valued targets, MSE."""

    _is_classifier = False

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets for the adapted task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._scores(X).reshape(-1).astype(np.float64)


# ---------------------------------------------------------------- helpers
def _not_adapted_message(est: Any) -> str:
    if hasattr(est, "meta_params_"):
        return (
            f"This {type(est).__name__} is meta-trained but not adapted to a task yet; call "
            "fit(X_support, y_support) before predicting."
        )
    return (
        f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate "
        "arguments before using this estimator."
    )


@contextmanager
def _unchanged_on_error(est: Any) -> Iterator[None]:
    """Restore the estimator's state (its fitted attributes) if the block raises: a
    `meta_fit` or `fit` that fails on bad input, in a callback or on Ctrl-C leaves the
    estimator as it was."""
    previous = dict(est.__dict__)
    try:
        yield
    except BaseException:
        est.__dict__.clear()
        est.__dict__.update(previous)
        raise


def _ndim(X: Any) -> int:
    """Dimensions of an input, lists of images included (2 when numpy cannot tell, e.g.
    ragged rows: sklearn's validation then reports the problem)."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None:
        return ndim
    try:
        return np.ndim(X)
    except (TypeError, ValueError):
        return 2


def _move(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _move(v, device) for k, v in value.items()}
    return value


def _check_prior(
    prior: Prior,
    fresh: dict[str, torch.Tensor],
    net_shape: tuple[int, ...],
    input_shape: tuple[int, ...],
    estimator: str,
    config: dict[str, Any],
    shape_free: tuple[str, ...] = (),
) -> None:
    want, have = _param_shapes(fresh), _param_shapes(prior.params)
    other_shape = tuple(prior.input_shape) != tuple(net_shape)
    differing = [k for k, v in (prior.config or {}).items() if k in config and v != config[k]]
    differ = [f"{k}={prior.config[k]!r} (this estimator: {config[k]!r})" for k in differing]
    unseen = any(k in shape_free for k in differing)  # shapes fit, the computation differs
    if (want != have or other_shape or unseen) and differ and prior.estimator == estimator:
        # an architecture parameter explains the mismatch (e.g. backbone="mlp" on images)
        raise ValueError(
            f"The prior does not fit this {estimator}'s network: it was meta-trained with "
            f"{', '.join(differ)}. Build the estimator with the prior's values."
        )
    if other_shape:
        raise ValueError(
            f"The prior was meta-trained on inputs of shape {tuple(prior.input_shape)}, but X "
            f"has examples of shape {tuple(input_shape)} (network input {tuple(net_shape)}). "
            "Use data with the features the prior was meta-trained on, or meta-train a new prior."
        )
    if want != have and prior.estimator != estimator:
        # (Learners with the same network, e.g. MAML and first-order MAML, share priors.)
        raise ValueError(
            f"The prior was meta-trained by a {prior.estimator}, whose network differs from "
            f"a {estimator}'s. Pass it to a {prior.estimator}, or meta-train a {estimator}."
        )
    if want != have:
        only_prior = sorted(set(have.items()) - set(want.items()))[:3]
        only_here = sorted(set(want.items()) - set(have.items()))[:3]
        diff = f"the prior has {only_prior}, this network {only_here}"
        raise ValueError(
            f"The prior (from {prior.estimator} with {prior.config}) does not fit this "
            f"{estimator}'s network; mismatched parameters: {diff}. Build the "
            "estimator with the same architecture parameters as the prior's."
        )


def _regression_targets(y: Any, dtype: Any = np.float32) -> np.ndarray:
    """Regression targets as ``dtype``; a clear error for labels that are not numbers."""
    y = np.asarray(y)
    try:
        return y.astype(dtype)
    except (TypeError, ValueError):
        example = y.ravel()[:1].tolist()[0] if y.size else None
        raise ValueError(
            f"A regressor needs numeric targets; y has dtype {y.dtype} (e.g. {example!r}). "
            "Convert y to numbers, or use a classifier for class labels."
        ) from None


@dataclass
class _MetaLoop:
    """Mutable state of one meta-training run (what a checkpoint holds)."""

    history: list[dict[str, Any]]
    best_score: float
    best_params: dict[str, torch.Tensor] | None
    stale: int
    start: int
    best_iteration: int = 0
    rng_state: torch.Tensor | None = None
    #: Fingerprint of the validation tasks the best score was taken on (None: none).
    validation: str | None = None

    def update(self, score: float, params: dict[str, torch.Tensor], iteration: int) -> None:
        if score > self.best_score:
            self.best_score, self.best_iteration, self.stale = score, iteration, 0
            self.best_params = {k: v.detach().clone() for k, v in params.items()}
        else:
            self.stale += 1


def _validation_fingerprint(tasks: list[PreparedTask] | None) -> str | None:
    """A digest of the validation tasks' tensors: a resumed run compares scores with the
    checkpoint's best only when they were taken on the same tasks."""
    if tasks is None:
        return None
    digest = hashlib.sha1()
    for task in tasks:
        for tensor in (task.X_support, task.y_support, task.X_query, task.y_query):
            if tensor is not None:
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return f"{len(tasks)}:{digest.hexdigest()}"


def _select_afresh(loop: _MetaLoop, saved: str | None, now: str | None) -> None:
    """Forget a resumed run's best prior when its validation tasks were others (or none):
    scores on other tasks do not compare."""
    if saved is not None and now is not None:
        warnings.warn(
            "The validation tasks differ from those of the checkpoint's run: its best "
            "score does not compare with this run's, so the best prior and the patience "
            "count start afresh from this run's validations.",
            UserWarning,
            stacklevel=4,
        )
    loop.best_score, loop.best_params, loop.best_iteration, loop.stale = -math.inf, None, 0, 0


def _save_checkpoint(
    path, key, seeds, loop: _MetaLoop, params, optimizer, rng_state, stream_state=None
) -> None:
    payload = {
        "format": "skmeta.checkpoint/1",
        "key": key,
        "seeds": list(seeds),
        "start": loop.start,
        "history": _history_columns(loop.history),
        "best_score": loop.best_score,
        "best_iteration": loop.best_iteration,
        "best_params": None if loop.best_params is None else _to_cpu(loop.best_params),
        "stale": loop.stale,
        "validation": loop.validation,
        "params": _to_cpu(params),
        "optimizer": _to_cpu(optimizer.state_dict()),
        "rng_state": rng_state,
        "stream": stream_state,
    }
    tmp = Path(f"{path}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # atomic: an interruption never leaves half a checkpoint


def _load_checkpoint(path, key) -> dict[str, Any] | None:
    if path is None or not Path(path).is_file():
        return None
    state = _torch_load(
        path,
        "a skmeta meta-training checkpoint",
        "Check the path; meta_fit writes the checkpoint itself, so pass a new path or "
        "delete this file to start afresh.",
    )
    if not isinstance(state, dict) or state.get("format") != "skmeta.checkpoint/1":
        raise ValueError(f"{str(path)!r} is not a skmeta meta-training checkpoint.")
    if "estimator" not in state["key"]:  # written before the key named the class
        key = {k: v for k, v in key.items() if k != "estimator"}
    elif state["key"]["estimator"] != key["estimator"]:
        raise ValueError(
            f"The checkpoint {str(path)!r} was written by a {state['key']['estimator']}, "
            f"not a {key['estimator']}; resume with that estimator, or pass another path "
            "to start afresh."
        )
    if state["key"] != key:
        changed = sorted(
            k for k in set(key) | set(state["key"]) if key.get(k) != state["key"].get(k)
        )
        raise ValueError(
            f"The checkpoint {str(path)!r} was written by an estimator with other parameters "
            f"({', '.join(changed)} differ); resume with the same parameters, or delete the file "
            "to start afresh."
        )
    return state


class _Peeked(Iterator):
    """A stream whose first item was read ahead (for the input shape), passed on first;
    saves and restores its position when the stream can."""

    _NOTHING = object()

    def __init__(self, first: Any, stream: Iterator[Any]) -> None:
        self._first, self._stream = first, stream
        self.resumable = _resumable(stream)

    def __next__(self) -> Any:
        if self._first is not self._NOTHING:
            first, self._first = self._first, self._NOTHING
            return first
        return next(self._stream)

    def get_state(self) -> str:
        pending = self._first is not self._NOTHING
        return json.dumps({"pending": pending, "stream": self._stream.get_state()})

    def set_state(self, state: str) -> None:
        saved = json.loads(state)
        self._stream.set_state(saved["stream"])
        if not saved["pending"]:
            self._first = self._NOTHING


def _resumable(stream: Any) -> bool:
    """Whether ``stream`` saves and restores its position (`get_state`, `set_state`)."""
    return bool(getattr(stream, "resumable", False))


@contextmanager
def _training_mode(network: nn.Module, switch: bool = True) -> Iterator[None]:
    """The network in training mode for a meta-update, in evaluation mode after it (left
    as it is unless ``switch``).

    Meta-training's updates run the modules' training behaviour (a user's dropout);
    everything else (`fit`, `predict`, validation, a fitted temperature) runs in
    evaluation mode, so that predictions are deterministic. skmeta's own layers behave
    the same in both (`TaskBatchNorm` keeps no running statistics).
    """
    if not switch:
        yield
        return
    network.train()
    try:
        yield
    finally:
        network.eval()


def _fast_forward(stream: Iterator[Any], n_items: int, saved: str | None) -> None:
    """Move a fresh stream past the ``n_items`` items a checkpointed run consumed: restore
    its saved position when it can, else draw and discard them."""
    if saved is not None and _resumable(stream):
        stream.set_state(saved)
        return
    for _ in range(n_items):
        next(stream, None)


def _check_group_classes(per_group: list[np.ndarray]) -> None:
    """Classification tasks need two classes: refuse groups that each hold one (e.g.
    ``groups=y``), and warn about some that do."""
    single = [i for i, labels in enumerate(per_group) if np.unique(labels).shape[0] < 2]
    if per_group and len(single) == len(per_group):
        raise ValueError(
            "Every group holds a single class, so every task has nothing to tell apart and "
            "meta-training would learn nothing. With meta_fit(X, y, groups) each group is "
            "one task and needs at least 2 classes (groups=y makes one class per task); to "
            "draw N-way episodes from a labelled pool, call meta_fit(X, y) without groups."
        )
    if single:
        warnings.warn(
            f"{len(single)} of {len(per_group)} groups hold a single class; as tasks they "
            "have nothing to tell apart and add nothing to meta-training.",
            UserWarning,
            stacklevel=5,
        )


def _check_meta_fit_arguments(checkpoint, checkpoint_interval, callbacks) -> list:
    """Check meta_fit's keyword arguments before any training; return the callbacks."""
    if (
        isinstance(checkpoint_interval, bool)
        or not isinstance(checkpoint_interval, Integral)
        or checkpoint_interval < 1
    ):
        raise ValueError(
            "checkpoint_interval is the number of meta-updates between checkpoints and must "
            f"be an integer >= 1; got {checkpoint_interval!r}."
        )
    if checkpoint is not None:
        folder = Path(checkpoint).parent
        if not folder.is_dir():
            raise FileNotFoundError(
                f"checkpoint={str(checkpoint)!r}: the folder {str(folder)!r} does not exist. "
                "Create it first (meta_fit writes the file, not its folder)."
            )
    if callbacks is None:
        return []
    if callable(callbacks):
        raise TypeError(
            "callbacks takes a list of callables, each called as callback(estimator, record); "
            "got a single one: pass callbacks=[callback]."
        )
    callbacks = list(callbacks)
    for i, callback in enumerate(callbacks):
        if not callable(callback):
            raise TypeError(
                f"callbacks[{i}] is a {type(callback).__name__}, not a callable; each callback "
                "is called as callback(estimator, record) after every meta-update."
            )
    return callbacks


def _history_columns(history: list[dict[str, Any]]) -> Any:
    """``meta_history_`` as one float64 tensor per key (NaN where a record lacks it), for
    the checkpoint: unpickling a list of dicts under ``weights_only`` takes about 0.5 s
    at 28,000 records, and a time-budgeted run reloads its checkpoint every segment.
    Histories holding anything but numbers stay a list."""
    keys = list(dict.fromkeys(k for record in history for k in record))
    values = [v for record in history for v in record.values()]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return history
    rows = [[record.get(k, math.nan) for k in keys] for record in history]
    table = torch.from_numpy(np.array(rows, dtype=np.float64).reshape(len(history), len(keys)))
    integer = [all(isinstance(r[k], int) for r in history if k in r) for k in keys]
    return {"keys": keys, "integer": integer, "table": table}


def _history_rows(saved: Any) -> list[dict[str, Any]]:
    """The inverse of `_history_columns` (a list, from older checkpoints, as it is)."""
    if isinstance(saved, list):
        return saved
    rows = saved["table"].tolist()
    kinds = list(zip(saved["keys"], saved["integer"]))
    return [
        {k: int(v) if whole else v for (k, whole), v in zip(kinds, row) if not math.isnan(v)}
        for row in rows
    ]


def _torch_load(path, what: str, fix: str) -> Any:
    """``torch.load`` of a file skmeta wrote; anything else gets a clear ValueError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling, truncated or foreign files raise many types
        raise ValueError(
            f"{str(path)!r} is not {what}: torch cannot read it ({type(error).__name__}). {fix}"
        ) from error


def _restore(state: dict[str, Any], params, optimizer) -> _MetaLoop:
    saved = state["params"]
    for k, v in params.items():
        if k not in saved or saved[k].shape != v.shape:
            got = tuple(saved[k].shape) if k in saved else "no such parameter"
            raise ValueError(
                "The checkpoint holds a network of other shapes (parameter "
                f"{k!r}: {got}, this run: {tuple(v.shape)}): it was written for data with "
                "other features or classes. Resume with the data it was started on, or "
                "delete the file to start afresh."
            )
    with torch.no_grad():
        for k, v in params.items():
            v.copy_(saved[k])
    optimizer.load_state_dict(state["optimizer"])
    device = next(iter(params.values())).device
    best = state["best_params"]
    return _MetaLoop(
        history=_history_rows(state["history"]),
        best_score=state["best_score"],
        best_params=None if best is None else {k: v.to(device) for k, v in best.items()},
        stale=state["stale"],
        start=state["start"],
        best_iteration=state["best_iteration"],
        rng_state=state["rng_state"],
    )
