"""MultiTaskRegressor and MultiTaskClassifier: one network conditioned on the task.

The contract (see ``docs/multitask.md``):

* ``meta_fit(tasks)`` or ``fit(X, y, task_ids=...)`` trains jointly on all tasks: the
  shared parameters θ^sh and every task's θ^i (its descriptor conditioning or head);
* ``predict(X, task_ids=...)`` predicts for known tasks;
* ``fit(X, y)`` without task ids adapts to one **new** task: only its descriptor (or its
  head) is learned, the shared parameters stay frozen, the jointly trained model is never
  changed, and ``predict(X)`` then predicts for that task. On an estimator that was never
  trained jointly, ``fit(X, y)`` trains on all rows as one task.
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from ..base import (
    _all_finite,
    _regression_targets,
    _seeded,
    _to_cpu,
    _unchanged_on_error,
    resolve_device,
)
from ..nn import layer_sizes
from ..nn._functional import functional_call
from ..tasks import Task
from ..tasks._task import _check_sortable
from ._conditioning import CONDITIONINGS, MultiTaskNetwork, NewTaskModule
from ._training import MultiTaskLoss, MultiTaskNet
from ._weighting import WEIGHTINGS, EqualWeights, TaskWeighting, resolve_weighting

__all__ = ["MultiTaskRegressor", "MultiTaskClassifier"]

_SEED_MAX = np.iinfo(np.int32).max
_PREDICT_BATCH = 4096


class _BaseMultiTask(BaseEstimator):
    """Shared implementation of the multi-task estimators (not public)."""

    _parameter_constraints: dict = {
        "conditioning": [StrOptions(set(CONDITIONINGS))],
        "conditioning_layers": [None, StrOptions({"all"}), "array-like"],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "descriptor": [StrOptions({"onehot", "task"}), "array-like", dict],
        "sharing_penalty": [Interval(Real, 0, None, closed="left")],
        "task_weights": [StrOptions(set(WEIGHTINGS)), dict, TaskWeighting],
        "task_sampling": [StrOptions({"proportional", "balanced"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_adapt_steps": [Interval(Integral, 0, None, closed="left")],
        "adapt_lr": [Interval(Real, 0, None, closed="neither")],
        "callbacks": [None, list],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        conditioning: str = "additive",
        conditioning_layers: Any = None,
        hidden_layer_sizes: Any = (64,),
        descriptor: Any = "onehot",
        sharing_penalty: float = 0.0,
        task_weights: Any = "equal",
        task_sampling: str = "proportional",
        alpha: float = 1e-4,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        max_epochs: int = 100,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        n_adapt_steps: int = 100,
        adapt_lr: float = 1e-2,
        callbacks: list | None = None,
        device: str | torch.device = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.conditioning = conditioning
        self.conditioning_layers = conditioning_layers
        self.hidden_layer_sizes = hidden_layer_sizes
        self.descriptor = descriptor
        self.sharing_penalty = sharing_penalty
        self.task_weights = task_weights
        self.task_sampling = task_sampling
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_adapt_steps = n_adapt_steps
        self.adapt_lr = adapt_lr
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ public API
    def meta_fit(self, tasks: Any, y: Any = None, groups: Any = None) -> _BaseMultiTask:
        """Train jointly on many tasks: the shared parameters and every task's own.

        Parameters
        ----------
        tasks : list of Task, list of (X, y) pairs, or array-like of shape (n_samples, n_features)
            The tasks. A `~skmeta.tasks.Task` contributes all its labelled rows (support
            and query) and, with ``descriptor="task"``, its descriptor; the tasks of a
            list are numbered 0, 1, ... in order. Arrays need ``y`` and ``groups``.
        y : array-like of shape (n_samples,), default=None
            Targets, when ``tasks`` is an array.
        groups : array-like of shape (n_samples,), default=None
            The task of each row, when ``tasks`` is an array; any hashable ids.

        Returns
        -------
        self : object
        """
        if y is not None or groups is not None:
            if groups is None:
                raise ValueError(
                    "meta_fit(X, y) needs groups naming the task of each row: call "
                    "meta_fit(X, y, groups), or fit(X, y) to train on one task."
                )
            return self.fit(tasks, y, task_ids=groups)
        X, y, task_ids, descriptors = _stack_tasks(tasks)
        self._validate_params()
        with _unchanged_on_error(self):
            return self._fit_joint(X, y, task_ids, task_descriptors=descriptors)

    def fit(self, X: Any, y: Any, task_ids: Any = None) -> _BaseMultiTask:
        """Train jointly on the tasks named by ``task_ids``, or adapt to a new task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        task_ids : array-like of shape (n_samples,), default=None
            The task of each row: joint training, the same as
            ``meta_fit(X, y, task_ids)``. Route it through metadata routing
            (``set_fit_request(task_ids=True)``) inside `Pipeline` or `GridSearchCV`.
            Without it, a jointly trained estimator adapts to the rows as one new task
            (the shared parameters frozen, only the new task's descriptor or head
            learned); an estimator never trained jointly trains on them as one task.

        Returns
        -------
        self : object
        """
        self._validate_params()
        # A fit that raises (bad input, a callback) leaves the estimator as it was.
        with _unchanged_on_error(self):
            if task_ids is None and getattr(self, "task_ids_", None) is not None:
                return self._adapt(X, y)
            X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=not self._classifier)
            if task_ids is None:
                task_ids = np.zeros(X.shape[0], dtype=np.int64)
                single = True
            else:
                task_ids = _check_task_ids(task_ids, X.shape[0])
                single = False
            self._fit_joint(X, y, task_ids, validated=True, single=single)
            if single:
                self.task_ids_ = None
            return self

    def predict(self, X: Any, task_ids: Any = None) -> np.ndarray:
        """Predict for rows of known tasks, or for the adapted new task.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        task_ids : array-like of shape (n_samples,), default=None
            The (known) task of each row. Leave it out after ``fit(X, y)`` without task
            ids, to predict for the task adapted to.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._decode(self._outputs(X, task_ids))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "module_")

    def __getstate__(self) -> dict[str, Any]:
        # Device-free pickles: a model trained on a GPU unpickles on a CPU-only machine.
        return _to_cpu(super().__getstate__())

    # ------------------------------------------------------------------ training
    def _fit_joint(
        self, X, y, task_ids, task_descriptors=None, validated=False, single=False
    ) -> _BaseMultiTask:
        if not validated:
            X, y = validate_data(self, X, y, dtype=np.float32, y_numeric=not self._classifier)
            task_ids = _check_task_ids(task_ids, X.shape[0])
        self.__dict__.pop("adaptation_", None)
        self.__dict__.pop("adaptation_history_", None)
        known, task = np.unique(task_ids, return_inverse=True)
        # One task has nothing to condition on: its descriptor would be a constant.
        descriptors = None if single else self._descriptor_table(known, task_descriptors)
        targets = self._encode_targets(y)
        layers = self._resolve_layers()
        device = resolve_device(self.device)
        seed = int(check_random_state(self.random_state).randint(_SEED_MAX))
        weighting = resolve_weighting(self.task_weights)
        with _seeded(seed, device):
            network = MultiTaskNetwork(
                X.shape[1],
                self._n_outputs(),
                self._hidden(),
                self.conditioning,
                layers,
                n_tasks=known.shape[0],
                descriptors=None if descriptors is None else torch.as_tensor(descriptors),
            )
            criterion = MultiTaskLoss(weighting, known, self._classifier)
            X_t, y_t = _tensor(X, device), self._target_tensor(targets, device)
            task_t = torch.as_tensor(task, device=device)
            callbacks = list(self.callbacks or [])
            for i, callback in enumerate(callbacks):
                named = isinstance(callback, tuple) and len(callback) == 2
                if not isinstance(callback[1] if named else callback, Callback):
                    raise TypeError(
                        f"callbacks[{i}] is a {type(callback).__name__}; the multi-task "
                        "estimators train with skorch and take skorch callbacks (instances "
                        "of skorch.callbacks.Callback, or (name, callback) pairs), e.g. "
                        "skorch.callbacks.ProgressBar()."
                    )
            train_split = None
            if self.early_stopping:
                valid = _validation_rows(task, self.validation_fraction, seed)
                train = ~valid
                valid_ds = Dataset({"X": X_t[valid], "task": task_t[valid]}, y_t[valid])
                X_t, y_t, task_t = X_t[train], y_t[train], task_t[train]
                train_split = predefined_split(valid_ds)
                callbacks.append(
                    (
                        "early_stopping",
                        EarlyStopping(patience=self.n_iter_no_change, load_best=True),
                    )
                )
            net = self._net(
                network,
                criterion,
                lr=self.learning_rate,
                alpha=self.alpha,
                batch_size=self.batch_size,
                max_epochs=self.max_epochs,
                sharing_penalty=self.sharing_penalty,
                task_sampling=self.task_sampling,
                callbacks=callbacks,
                train_split=train_split,
                device=device,
                seed=seed,
            )
            net.fit({"X": X_t, "task": task_t}, y_t)
        network.eval()
        if not _all_finite(list(network.parameters())):
            raise ValueError(
                f"{type(self).__name__} diverged: training produced nan or inf weights. "
                f"Lower learning_rate (now {self.learning_rate!r}) or scale the features and "
                "targets, e.g. with a StandardScaler."
            )
        self.module_ = network
        self.task_ids_ = known
        self.descriptors_ = descriptors
        self.history_ = net.history
        self.n_epochs_ = len(net.history)
        self.weighting_state_ = {
            k: v.detach().cpu().numpy() for k, v in net.criterion_.state().items()
        }
        self.device_ = device
        self._trained_architecture = self._architecture()
        return self

    def _architecture(self) -> dict[str, Any]:
        """The parameters that fix the jointly trained network (descriptors by kind)."""
        out = {}
        for name in ("conditioning", "conditioning_layers", "hidden_layer_sizes", "descriptor"):
            value = getattr(self, name)
            if name == "descriptor" and not isinstance(value, str):
                value = "a table of descriptors"
            elif isinstance(value, (list, np.ndarray)):
                value = tuple(np.asarray(value).tolist())
            out[name] = value
        return out

    def _adapt(self, X: Any, y: Any) -> _BaseMultiTask:
        """Learn a new task's descriptor or head; the jointly trained network stays frozen."""
        trained = getattr(self, "_trained_architecture", None)  # None: pickled before it
        for name, value in (self._architecture() if trained else {}).items():
            if trained[name] != value:
                raise ValueError(
                    f"This {type(self).__name__} was trained jointly with {name}="
                    f"{trained[name]!r}, but {name} is now {value!r}; a new task adapts the "
                    f"trained network. Set {name}={trained[name]!r} again to adapt, or train "
                    f"jointly again (fit with task_ids) with {name}={value!r}."
                )
        X, y = validate_data(
            self, X, y, reset=False, dtype=np.float32, y_numeric=not self._classifier
        )
        targets = self._encode_new_task_targets(y)
        device = resolve_device(self.device)
        self.module_.to(device)
        new_task = NewTaskModule(self.module_)
        self.adaptation_history_ = None
        if len(list(new_task.parameters())) and self.n_adapt_steps:
            seed = int(check_random_state(self.random_state).randint(_SEED_MAX))
            criterion = MultiTaskLoss(EqualWeights(), np.zeros(1), self._classifier)
            with _seeded(seed, device):
                net = self._net(
                    new_task,
                    criterion,
                    lr=self.adapt_lr,
                    alpha=0.0,
                    batch_size=-1,
                    max_epochs=self.n_adapt_steps,
                    sharing_penalty=self.sharing_penalty + self.alpha,
                    task_sampling="proportional",
                    callbacks=[],
                    train_split=None,
                    device=device,
                    seed=seed,
                )
                net.fit({"X": _tensor(X, device)}, self._target_tensor(targets, device))
            self.adaptation_history_ = net.history
        if not _all_finite(list(new_task.parameters())):
            raise ValueError(
                f"{type(self).__name__} diverged while adapting to the new task: its own "
                f"parameters hold nan or inf. Lower adapt_lr (now {self.adapt_lr!r}) or "
                "scale the features."
            )
        self.adaptation_ = _detach_tree(new_task.state())
        return self

    def _net(
        self,
        module,
        criterion,
        *,
        lr,
        alpha,
        batch_size,
        max_epochs,
        sharing_penalty,
        task_sampling,
        callbacks,
        train_split,
        device,
        seed,
    ) -> MultiTaskNet:
        return MultiTaskNet(
            module,
            criterion=criterion,
            optimizer=torch.optim.Adam,
            lr=lr,
            optimizer__weight_decay=alpha,
            batch_size=batch_size,
            max_epochs=max_epochs,
            sharing_penalty=sharing_penalty,
            task_sampling=task_sampling,
            generator=torch.Generator().manual_seed(seed),
            callbacks=callbacks,
            train_split=train_split,
            device=str(device),
            verbose=self.verbose,
        )

    # ------------------------------------------------------------------ prediction
    def _outputs(self, X: Any, task_ids: Any) -> np.ndarray:
        if not hasattr(self, "module_"):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' (or "
                "'meta_fit') with appropriate arguments before using this estimator."
            )
        X = validate_data(self, X, reset=False, dtype=np.float32)
        new_task, task = self._route(X.shape[0], task_ids)
        device = resolve_device(self.device)
        network = self.module_.to(device)
        # Predict in float64 (trained in float32): a row's prediction then does not depend,
        # to rounding, on which other rows share its batch.
        params = {k: v.double() for k, v in network.state_dict().items()}
        if new_task is not None:
            new_task = _move_tree(new_task, device)
        out = []
        with torch.no_grad():
            for start in range(0, X.shape[0], _PREDICT_BATCH):
                rows = slice(start, start + _PREDICT_BATCH)
                t = None if task is None else torch.as_tensor(task[rows], device=device)
                x = _tensor(X[rows], device).double()
                out.append(functional_call(network, params, (x, t, new_task)).cpu())
        return torch.cat(out).numpy()

    def _route(self, n_rows: int, task_ids: Any) -> tuple[dict | None, np.ndarray | None]:
        """(new-task parameters, None) or (None, task index of each row)."""
        known = getattr(self, "task_ids_", None)
        if task_ids is None:
            if hasattr(self, "adaptation_"):
                return self.adaptation_, None
            if known is None:  # trained on one task
                return None, np.zeros(n_rows, dtype=np.int64)
            raise ValueError(
                f"This {type(self).__name__} was trained jointly on {known.shape[0]} tasks: pass "
                "task_ids=... to predict for known tasks, or adapt to a new task first with "
                "fit(X_new, y_new) (no task ids) and then predict(X) without task ids."
            )
        if known is None:
            raise ValueError(
                f"This {type(self).__name__} was fitted without task ids (one task); predict "
                "without task_ids, or fit with task_ids=... to train on several tasks."
            )
        task_ids = _check_task_ids(task_ids, n_rows)
        index = {t: i for i, t in enumerate(known.tolist())}
        task = np.array([index.get(t, -1) for t in task_ids.tolist()], dtype=np.int64)
        if np.any(task < 0):
            unknown = np.unique(task_ids[task < 0])
            shown = ", ".join(repr(t) for t in unknown[:5].tolist())
            known_shown = ", ".join(repr(t) for t in known[:5].tolist())
            raise ValueError(
                f"Unknown task ids: {shown}{' ...' if unknown.shape[0] > 5 else ''} "
                f"({unknown.shape[0]} in all). This {type(self).__name__} was trained on "
                f"{known.shape[0]} tasks ({known_shown}{' ...' if known.shape[0] > 5 else ''}). "
                "To predict for a new task, adapt to it with fit(X_new, y_new) without "
                "task_ids, then call predict(X) without task_ids."
            )
        return None, task

    # ------------------------------------------------------------------ helpers
    def _hidden(self) -> tuple[int, ...]:
        return layer_sizes(self.hidden_layer_sizes)

    def _resolve_layers(self) -> tuple[int, ...]:
        n_layers = len(self._hidden()) + 1
        if self.conditioning_layers is None:
            return (n_layers - 1,) if self.conditioning == "multihead" else tuple(range(n_layers))
        if isinstance(self.conditioning_layers, str):  # "all"
            return tuple(range(n_layers))
        layers = np.asarray(self.conditioning_layers).ravel()
        if (
            layers.size == 0
            or layers.dtype.kind not in "iu"
            or np.any(layers < 0)
            or np.any(layers >= n_layers)
        ):
            raise ValueError(
                f"conditioning_layers must list layer indices in 0..{n_layers - 1} (0 is the "
                f"first hidden layer, {n_layers - 1} the output layer, for "
                f"hidden_layer_sizes={self._hidden()}); got {self.conditioning_layers!r}."
            )
        return tuple(sorted(set(int(k) for k in layers)))

    def _descriptor_table(self, known: np.ndarray, task_descriptors) -> np.ndarray | None:
        descriptor = self.descriptor
        if isinstance(descriptor, str):
            if descriptor == "onehot":
                return None
            if task_descriptors is None or any(d is None for d in task_descriptors):
                raise ValueError(
                    "descriptor='task' takes each task's descriptor from the Task objects "
                    "passed to meta_fit, and every task needs one. With arrays, pass the "
                    "descriptors as a matrix (one row per sorted task id) or a dict."
                )
            table = _stack_descriptors(task_descriptors)
        elif isinstance(descriptor, dict):
            missing = [t for t in known.tolist() if t not in descriptor]
            if missing:
                raise ValueError(
                    f"descriptor has no entry for the tasks {missing[:5]}; give a vector for "
                    "every task id passed to fit."
                )
            table = _stack_descriptors([descriptor[t] for t in known.tolist()])
        else:
            table = np.asarray(descriptor, dtype=np.float64)
            if table.ndim != 2 or table.shape[0] != known.shape[0]:
                raise ValueError(
                    f"descriptor must be a matrix with one row per task ({known.shape[0]} tasks, "
                    f"in the order of the sorted task ids, np.unique(task_ids)); got shape "
                    f"{table.shape}. When the tasks differ between fits (e.g. in "
                    "cross-validation), pass a dict {task_id: vector} instead."
                )
        if table.ndim != 2 or not np.all(np.isfinite(table)):
            raise ValueError("Task descriptors must be finite vectors of one common length.")
        return table.astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags


class MultiTaskRegressor(RegressorMixin, _BaseMultiTask):
    """Multi-task regression: one network, conditioned on the task descriptor z_i.

    Minimises Σ_i w_i L_i(θ) over all tasks jointly, where the network shares θ^sh
    across tasks and conditions on z_i as ``conditioning`` says. Targets are standardised
    internally (predictions come back in the original units).

    Parameters
    ----------
    conditioning : {"additive", "concat", "multiplicative", "multihead", "independent", \
"shared"}, default="additive"
        How the task conditions the network: ``"concat"`` concatenates z_i to a layer's
        input, ``"additive"`` adds a task-conditional bias to a layer (the same model as
        concat), ``"multiplicative"`` gates a layer's units per task, ``"multihead"``
        keeps one copy of a layer per task (a head). ``"independent"`` (one network per
        task) and ``"shared"`` (z_i ignored) are the two baselines.
    conditioning_layers : "all", list of int or None, default=None
        Layers conditioned (0 = first hidden layer, ``len(hidden_layer_sizes)`` = output
        layer); for "multihead", the layers copied per task. None: all layers, or the
        output layer for "multihead".
    hidden_layer_sizes : tuple of int, default=(64,)
        Hidden layers (ReLU).
    descriptor : "onehot", "task", array-like of shape (n_tasks, n_descriptor) or dict, \
default="onehot"
        The task descriptor z_i: a one-hot task id, the descriptors of the Task objects
        given to `meta_fit` ("task"), or task metadata (rows in the order of the sorted
        task ids, or ``{task_id: vector}``). Used by concat, additive and multiplicative.
    sharing_penalty : float, default=0.0
        λ of the soft-sharing penalty λ Σ_i ||θ^i − θ̄||² = (λ/T) Σ_{i<j} ||θ^i − θ^j||²
        between the task-specific parameters: larger shares more.
    task_weights : {"equal", "uncertainty", "pcgrad"}, dict or TaskWeighting, \
default="equal"
        How task losses combine: equal, fixed ``{task_id: weight}``, learned
        homoscedastic uncertainty (Kendall et al. 2018), or PCGrad (Yu et al. 2020).
    task_sampling : {"proportional", "balanced"}, default="proportional"
        Minibatches draw rows uniformly (a task counts as much as its number of rows) or
        each task equally often (small tasks are not drowned).
    alpha : float, default=1e-4
        L2 penalty (weight decay) on all parameters.
    learning_rate : float, default=1e-3
        Adam's step size.
    batch_size : int, default=64
    max_epochs : int, default=100
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of each task's rows and stop when the validation
        loss has not improved for ``n_iter_no_change`` epochs, keeping the best epoch.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    n_adapt_steps : int, default=100
        Full-batch Adam steps that `fit` without task ids takes to adapt to a new task.
    adapt_lr : float, default=1e-2
        Step size of the adaptation.
    callbacks : list of skorch callbacks, default=None
        Added to the skorch training loop (e.g. ``skorch.callbacks.ProgressBar()``).
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0
        1 prints skorch's table of epochs.

    Attributes
    ----------
    module_ : MultiTaskNetwork
        The trained network.
    task_ids_ : ndarray or None
        The known tasks, sorted (None after ``fit`` on one task without task ids).
    descriptors_ : ndarray of shape (n_tasks, n_descriptor) or None
        The task metadata used (None for one-hot).
    history_ : skorch.History
        Per-epoch ``train_loss`` (and ``valid_loss`` with early stopping).
    n_epochs_ : int
    weighting_state_ : dict of ndarray
        State of the task weighting (e.g. ``log_var`` for "uncertainty").
    adaptation_ : dict
        The adapted new task's parameters (after ``fit`` without task ids).
    y_mean_, y_scale_ : float
        Target standardisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings.
    device_ : torch.device

    See Also
    --------
    MultiTaskClassifier : The same for class labels.
    transfer_report : Per-task scores against the independent and shared baselines.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.multitask import MultiTaskRegressor
    >>> rng = np.random.default_rng(0)
    >>> X, tasks = rng.normal(size=(300, 3)), rng.integers(0, 3, 300)
    >>> y = X[:, 0] + 2.0 * tasks                     # tasks differ by an offset
    >>> est = MultiTaskRegressor(max_epochs=30, random_state=0).fit(X, y, task_ids=tasks)
    >>> est.predict(X[:2], task_ids=[0, 2]).shape
    (2,)
    >>> new = est.fit(X[:10], X[:10, 0] + 1.0)        # a new task from 10 examples
    >>> est.predict(X[:2]).shape
    (2,)
    """

    _classifier = False

    def _n_outputs(self) -> int:
        return 1

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        y = _regression_targets(y, np.float64)
        self.y_mean_ = float(np.mean(y))
        scale = float(np.std(y))
        self.y_scale_ = scale if scale > 0 else 1.0
        return self._standardise(y)

    def _encode_new_task_targets(self, y: np.ndarray) -> np.ndarray:
        return self._standardise(_regression_targets(y, np.float64))

    def _standardise(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean_) / self.y_scale_).astype(np.float32)

    def _target_tensor(self, targets: np.ndarray, device) -> torch.Tensor:
        return torch.as_tensor(targets, dtype=torch.float32, device=device)

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        return outputs[:, 0].astype(np.float64) * self.y_scale_ + self.y_mean_

    def score(self, X: Any, y: Any, task_ids: Any = None, sample_weight: Any = None) -> float:
        """R² of ``predict(X, task_ids)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        task_ids : array-like of shape (n_samples,), default=None
            As for `predict`; route it with ``set_score_request(task_ids=True)``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return float(r2_score(y, self.predict(X, task_ids), sample_weight=sample_weight))


class MultiTaskClassifier(ClassifierMixin, _BaseMultiTask):
    """Multi-task classification: one network, conditioned on the task descriptor z_i.

    The tasks share one set of classes, ``classes_`` (the union of their labels); each
    task's conditioning decides which classes it predicts.

    Parameters
    ----------
    conditioning : {"additive", "concat", "multiplicative", "multihead", "independent", \
"shared"}, default="additive"
    conditioning_layers : "all", list of int or None, default=None
    hidden_layer_sizes : tuple of int, default=(64,)
    descriptor : "onehot", "task", array-like or dict, default="onehot"
    sharing_penalty : float, default=0.0
    task_weights : {"equal", "uncertainty", "pcgrad"}, dict or TaskWeighting, \
default="equal"
    task_sampling : {"proportional", "balanced"}, default="proportional"
    alpha : float, default=1e-4
    learning_rate : float, default=1e-3
    batch_size : int, default=64
    max_epochs : int, default=100
    early_stopping : bool, default=False
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    n_adapt_steps : int, default=100
    adapt_lr : float, default=1e-2
    callbacks : list of skorch callbacks, default=None
    device : str or torch.device, default="auto"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Every parameter means what it means for `MultiTaskRegressor`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels of all tasks, sorted.
    module_, task_ids_, descriptors_, history_, n_epochs_, weighting_state_, \
adaptation_, n_features_in_, feature_names_in_, device_
        As for `MultiTaskRegressor`.

    See Also
    --------
    MultiTaskRegressor : The same for real-valued targets.

    Examples
    --------
    >>> import numpy as np
    >>> from skmeta.multitask import MultiTaskClassifier
    >>> rng = np.random.default_rng(0)
    >>> X, tasks = rng.normal(size=(300, 2)), rng.integers(0, 2, 300)
    >>> y = np.where(tasks == 0, X[:, 0] > 0, X[:, 1] > 0)   # each task its own feature
    >>> clf = MultiTaskClassifier(conditioning="multihead", max_epochs=30, random_state=0)
    >>> clf.fit(X, y, task_ids=tasks).score(X, y, task_ids=tasks) > 0.9
    True
    """

    _classifier = True

    def _n_outputs(self) -> int:
        return int(self.classes_.shape[0])

    def _encode_targets(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        return encoded

    def _encode_new_task_targets(self, y: np.ndarray) -> np.ndarray:
        check_classification_targets(y)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        encoded = np.array([index.get(c, -1) for c in np.asarray(y).tolist()], dtype=np.int64)
        if np.any(encoded < 0):
            raise ValueError(
                f"The new task has labels {np.unique(np.asarray(y)[encoded < 0])[:5].tolist()} "
                f"that the jointly trained network does not predict (its classes are "
                f"{self.classes_[:10].tolist()}). Adapt with labels among classes_, or train "
                "jointly on tasks that include them."
            )
        return encoded

    def _target_tensor(self, targets: np.ndarray, device) -> torch.Tensor:
        return torch.as_tensor(targets, dtype=torch.long, device=device)

    def _decode(self, outputs: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(outputs, axis=1)]

    def score(self, X: Any, y: Any, task_ids: Any = None, sample_weight: Any = None) -> float:
        """Accuracy of ``predict(X, task_ids)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        task_ids : array-like of shape (n_samples,), default=None
            As for `predict`; route it with ``set_score_request(task_ids=True)``.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        return float(accuracy_score(y, self.predict(X, task_ids), sample_weight=sample_weight))

    def predict_proba(self, X: Any, task_ids: Any = None) -> np.ndarray:
        """Class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        task_ids : array-like of shape (n_samples,), default=None
            As for `predict`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        logits = torch.from_numpy(self._outputs(X, task_ids).astype(np.float64))
        return torch.softmax(logits, dim=1).numpy()

    def predict_log_proba(self, X: Any, task_ids: Any = None) -> np.ndarray:
        """Logarithm of the class probabilities, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        task_ids : array-like of shape (n_samples,), default=None
            As for `predict`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        logits = torch.from_numpy(self._outputs(X, task_ids).astype(np.float64))
        return torch.log_softmax(logits, dim=1).numpy()


# ---------------------------------------------------------------------- helpers
def _tensor(X: np.ndarray, device) -> torch.Tensor:
    return torch.tensor(np.asarray(X, dtype=np.float32), device=device)


def _stack_descriptors(vectors: list) -> np.ndarray:
    rows = [np.asarray(v, dtype=np.float64).ravel() for v in vectors]
    if len({r.shape[0] for r in rows}) > 1:
        raise ValueError(
            "Task descriptors must be finite vectors of one common length; got lengths "
            f"{sorted({r.shape[0] for r in rows})}."
        )
    return np.vstack(rows)


def _check_task_ids(task_ids: Any, n_rows: int) -> np.ndarray:
    task_ids = np.asarray(task_ids)
    if task_ids.ndim == 2 and task_ids.shape[1] == 1:
        task_ids = task_ids.ravel()
    if task_ids.ndim != 1:
        raise ValueError(
            f"task_ids must be 1-D, one task id per row of X; got an array of shape "
            f"{task_ids.shape}. For a column of ids, pass task_ids.ravel()."
        )
    if task_ids.shape[0] != n_rows:
        raise ValueError(
            f"task_ids has {task_ids.shape[0]} entries, but X has {n_rows} rows; give the "
            "task of every row."
        )
    if task_ids.dtype.kind == "f" and not np.all(np.isfinite(task_ids)):
        raise ValueError("task_ids contains NaN or infinity; give every row a task id.")
    if task_ids.dtype.kind == "O" and any(t is None for t in task_ids.tolist()):
        raise ValueError("task_ids contains None; give every row a task id.")
    _check_sortable(task_ids, "task_ids", "id")
    return task_ids


def _validation_rows(task: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A mask holding out ``fraction`` of each task's rows (at least one row stays in)."""
    rng = np.random.default_rng(seed)
    valid = np.zeros(task.shape[0], dtype=bool)
    for t in np.unique(task):
        rows = rng.permutation(np.flatnonzero(task == t))
        n_valid = min(int(round(fraction * rows.shape[0])), rows.shape[0] - 1)
        valid[rows[:n_valid]] = True
    if not valid.any():
        raise ValueError(
            f"early_stopping holds out validation_fraction={fraction} of each task's rows, "
            "which leaves no validation rows here; raise validation_fraction, give the tasks "
            "more rows, or set early_stopping=False."
        )
    return valid


def _stack_tasks(tasks: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    """Rows, targets, task index and descriptors of a finite collection of tasks."""
    try:  # endless samplers define __len__ but raise TypeError from it
        finite = not isinstance(tasks, (Task, np.ndarray)) and len(tasks) >= 0
    except TypeError:
        finite = False
    if not finite:
        raise TypeError(
            "meta_fit takes a list of tasks (Task objects or (X, y) pairs), or arrays "
            "meta_fit(X, y, groups); multi-task learning trains on a finite set of tasks that "
            f"it reads as a whole. Got {type(tasks).__name__}; for an iterator or a sampler "
            "of tasks, pass list(...) of the tasks to train on."
        )
    Xs, ys, ids, descriptors = [], [], [], []
    for i, item in enumerate(tasks):
        if isinstance(item, Task):
            parts = [(item.X_support, item.y_support)]
            if item.X_query is not None and item.y_query is not None:
                parts.append((item.X_query, item.y_query))
            descriptors.append(item.descriptor)
        else:
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise TypeError(
                    f"Task {i} is a {type(item).__name__}"
                    f"{f' of length {len(item)}' if isinstance(item, (tuple, list)) else ''}; "
                    "expected a skmeta.tasks.Task or an (X, y) pair. Task ids are the "
                    "tasks' positions in the list; descriptors go in a Task's descriptor."
                )
            X_i, y_i = item
            parts = [(np.asarray(X_i), np.asarray(y_i))]
            descriptors.append(None)
        for X_i, y_i in parts:
            if Xs and X_i.shape[1:] != Xs[0].shape[1:]:
                raise ValueError(
                    f"Tasks must share one input space: task {i} has examples of shape "
                    f"{X_i.shape[1:]}, the first task {Xs[0].shape[1:]}."
                )
            Xs.append(X_i)
            ys.append(y_i)
            ids.append(np.full(len(y_i), i, dtype=np.int64))
    if not Xs:
        raise ValueError("The task collection is empty.")
    return np.concatenate(Xs), np.concatenate(ys), np.concatenate(ids), descriptors


def _detach_tree(tree: dict) -> dict:
    return {
        k: _detach_tree(v) if isinstance(v, dict) else v.detach().clone() for k, v in tree.items()
    }


def _move_tree(tree: dict, device) -> dict:
    """The tree's tensors on ``device``, in float64."""
    return {
        k: _move_tree(v, device) if isinstance(v, dict) else v.to(device, torch.float64)
        for k, v in tree.items()
    }
