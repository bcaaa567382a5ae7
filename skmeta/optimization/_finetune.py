"""Fine-tuning: the transfer-learning baseline of few-shot classification.

Pre-train a network on all meta-training classes at once, as one supervised problem;
on a new task, put a fresh output layer sized to its classes on the pretrained body and
train it (and any unfrozen body layers) on the support set. Chen et al. (2019) and Tian et
al. (2020) show that this simple baseline matches or beats many meta-learners, so it is
the yardstick that tells whether meta-learning helped.

skorch runs each pretraining step (an "epoch" over one mini-batch: its callbacks and
``history``); the loop around the steps is the meta-estimator contract's (progress,
validation and early stopping, checkpoints), so that this estimator behaves like the
others. Adaptation at `fit` is a short functional loop on copies of the pretrained
weights: `evaluate` adapts to hundreds of tasks, and a handful of support examples costs
less to train than skorch's bookkeeping per step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, column_or_1d
from skorch import NeuralNet
from skorch.dataset import unpack_data
from torch import nn

from ..base import MetaClassifierMixin, MetaData, MetaEstimatorMixin, _MetaLoop
from ..nn import BACKBONES, TaskBatchNorm, has_task_norm, make_predictor, reference_rows
from ..nn._functional import functional_call
from ..tasks import Task
from ..tasks._task import _as_targets

# Normalisation layers belong to the layer they follow when counting layers to freeze.
_NORMS = (
    TaskBatchNorm,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.GroupNorm,
    nn.LayerNorm,
)
# Rows run through the body at once at prediction time (bounds memory on large query sets).
_PREDICT_CHUNK = 1024


def _body_layers(body: nn.Module) -> list[list[str]]:
    """Names (``body.*``) of the body's parameters, grouped by layer from the input.

    A layer is a module owning parameters (a linear or convolutional layer); a
    normalisation layer joins the layer before it, so a Conv-4 has four layers.
    """
    layers: list[list[str]] = []
    for name, module in body.named_modules():
        own = [
            ".".join(filter(None, ("body", name, p)))
            for p, _ in module.named_parameters(recurse=False)
        ]
        if not own:
            continue
        if isinstance(module, _NORMS) and layers:
            layers[-1] += own
        else:
            layers.append(own)
    return layers


def _pool_rows(n_rows: int, seed: int) -> Iterator[int]:
    """Row indices of a pool, epoch after epoch, each epoch in a fresh random order."""
    rng = np.random.default_rng(seed)
    while True:
        yield from rng.permutation(n_rows).tolist()


class _Pool:
    """A labelled pool for pretraining: rows are the items of the stream."""

    def __init__(self, X: np.ndarray, codes: np.ndarray) -> None:
        self.X, self.codes = X, codes
        self.n_classes = int(codes.max()) + 1
        if self.n_classes < 2:
            raise ValueError(
                "Pretraining classifies the pool's examples by class, but the pool has one "
                "class: the loss would be 0 and the body would learn nothing. Give a pool "
                "of several classes."
            )

    def batch(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        return self.X[rows], self.codes[rows]


class _TaskPool:
    """Tasks for pretraining: their examples (support and query) with global classes.

    A task's labels map to its original classes (``task.classes``, set by
    `EpisodeSampler`) when it has them; otherwise each task's classes are new classes.
    Classes are numbered as the tasks arrive through `encode`, so the output layer grows
    with them, and replaying the stream on resume numbers them again the same way. A
    finite collection of ``period`` tasks is cycled over, so its i-th task comes back
    every ``period`` tasks with the same classes.
    """

    def __init__(self, input_shape: tuple[int, ...], period: int | None) -> None:
        self.input_shape = input_shape
        self.period = period
        self.index: dict[Any, int] = {}
        self.n_tasks = 0

    @property
    def n_classes(self) -> int:
        return len(self.index)

    def encode(self, tasks: Iterable[Task]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each task's examples and their global class numbers, numbering new classes."""
        for task in tasks:
            X, y = self._examples(task)
            labels, inverse = np.unique(y, return_inverse=True)
            if task.classes is not None:
                keys = [("class", c) for c in np.asarray(task.classes)[labels].tolist()]
            else:
                position = self.n_tasks % self.period if self.period else self.n_tasks
                keys = [("task", position, c) for c in labels.tolist()]
            self.n_tasks += 1
            ids = np.array([self.index.setdefault(k, len(self.index)) for k in keys])
            yield X, ids[inverse]

    @staticmethod
    def batch(
        encoded: list[tuple[np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([X for X, _ in encoded]), np.concatenate([c for _, c in encoded])

    def _examples(self, task: Task) -> tuple[np.ndarray, np.ndarray]:
        if tuple(task.X_support.shape[1:]) != self.input_shape:
            raise ValueError(
                f"Tasks must share one input space: this task's examples have shape "
                f"{tuple(task.X_support.shape[1:])}, earlier ones {self.input_shape}."
            )
        X, y = task.X_support, task.y_support
        if task.X_query is not None and task.y_query is not None:
            X, y = np.concatenate([X, task.X_query]), np.concatenate([y, task.y_query])
        check_classification_targets(y)
        if task.classes is not None and not np.issubdtype(np.asarray(y).dtype, np.integer):
            raise ValueError(
                "A task with classes= must label its examples 0..n_classes-1 (indices into "
                "task.classes)."
            )
        return X, y


def _adam_step(
    p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int, lr: float
) -> None:
    """One Adam update in place (Kingma & Ba, default betas): on a support set of a few
    examples, `torch.optim.Adam`'s per-call overhead costs more than the maths."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    m.lerp_(g, 1 - beta1)
    v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    denom = (v / (1 - beta2**step)).sqrt_().add_(eps)
    p.addcdiv_(m, denom, value=-lr / (1 - beta1**step))


class _PretrainNet(NeuralNet):
    """skorch's `NeuralNet` stepping on whole mini-batch tensors, recording accuracy."""

    def get_iterator(self, dataset, training=False):
        return [(dataset.X, dataset.y)]

    def train_step_single(self, batch, **fit_params):
        step = super().train_step_single(batch, **fit_params)
        _, y = unpack_data(batch)
        accuracy = (step["y_pred"].argmax(1) == y).float().mean()
        self.history.record_batch("train_acc", float(accuracy))
        return step


def _grow_head(net: NeuralNet, n_classes: int) -> None:
    """Widen the output layer to ``n_classes`` rows, keeping the rows learnt so far and
    the optimiser's state for them (new rows start with none)."""
    old = net.module_.head
    new = nn.Linear(old.in_features, n_classes).to(old.weight.device)
    with torch.no_grad():
        new.weight[: old.out_features] = old.weight
        new.bias[: old.out_features] = old.bias
    net.module_.head = new
    optimizer = net.optimizer_
    swap = {id(old.weight): new.weight, id(old.bias): new.bias}
    for group in optimizer.param_groups:
        group["params"] = [swap.get(id(p), p) for p in group["params"]]
    for before, after in ((old.weight, new.weight), (old.bias, new.bias)):
        state = optimizer.state.pop(before, None)
        if state is None:
            continue
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == before.shape:
                padded = torch.zeros_like(after)
                padded[: before.shape[0]] = value
                state[key] = padded
        optimizer.state[after] = state


class FineTuneClassifier(MetaClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fine-tuning baseline: pretrain on all meta-training classes, fine-tune on a task.

    `meta_fit` trains a network (a body and a linear head) to classify all the classes of
    the meta-training data at once, as ordinary supervised learning driven by skorch, and
    keeps the body θ*. `fit` puts a new head, initialised to zero and sized to the support
    set's classes, on θ*; freezes the first ``freeze`` body layers (by default the whole
    body: a linear probe on pretrained features); and takes ``n_finetune_steps``
    full-batch Adam steps on the support set. Any number of classes works at `fit`.
    Without `meta_fit`, the body is a fresh initialisation (seeded by ``random_state``):
    a small network trained on the support set alone.

    Parameters
    ----------
    backbone : {"mlp", "conv4"} or torch.nn.Module, default="mlp"
        The body: an MLP with ``hidden_layer_sizes`` (features after the last ReLU), the
        Conv-4 of few-shot learning (images: (n, H, W), (n, C, H, W) or flattened squares),
        or a module of yours mapping a batch of inputs to a batch of features.
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Hidden widths of the MLP body.
    freeze : int or "body", default="body"
        Body layers kept at their pretrained values during `fit`, counted from the input.
        A layer is a linear or convolutional layer with its normalisation (Conv-4 has 4,
        the MLP ``len(hidden_layer_sizes)``). 0 fine-tunes everything; "body" trains the
        head only (a linear probe, the "Baseline" of Chen et al. 2019).
    finetune_lr : float, default=2e-2
        Adam learning rate of `fit`, for the head and the unfrozen body layers. With
        layers unfrozen, a smaller value (e.g. 1e-3) keeps the pretrained features from
        drifting away on a handful of examples.
    n_finetune_steps : int, default=50
        Full-batch Adam steps on the support set at `fit`.
    transductive : bool, default=False
        Whether query examples may share batch-norm statistics (Conv-4's `TaskBatchNorm`).
        When False, `fit` and `predict` normalise with the support set's statistics, so a
        query's prediction never depends on the other queries. Pretraining always uses
        the statistics of its mini-batch.
    meta_lr : float, default=1e-3
        Adam learning rate of pretraining.
    n_meta_iterations : int, default=1000
        Pretraining steps (mini-batches), each one skorch epoch and one record of
        ``meta_history_``.
    batch_size : int, default=64
        Examples per pretraining step when `meta_fit` gets a labelled pool
        (``meta_fit(X, y)`` or ``meta_fit(X, y, groups)``), drawn epoch by epoch in
        random order. Unused when `meta_fit` gets tasks.
    meta_batch_size : int, default=4
        Tasks per pretraining step when `meta_fit` gets tasks (a list or a sampler): a
        step trains on all their examples, support and query. Unused when `meta_fit`
        gets a labelled pool. (Development versions before 0.1 counted a pool's
        examples with ``meta_batch_size`` too, default 64; that is now ``batch_size``,
        so that ``meta_batch_size`` means tasks per step here as for every skmeta
        meta-learner.)
    validation_interval : int, default=100
        Steps between two scorings of ``validation_tasks`` (fine-tune, then score).
    patience : int, default=None
        Stop after this many validations without improvement (None: never stop early).
    prior : Prior, str or path-like, default=None
        A pretrained body (from `export_prior`) to fine-tune from and to start
        pretraining from. Clones keep it.
    device : str or torch.device, default="auto"
        "auto" uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and the order of the pretraining examples.
    verbose : int, default=0
        Show a progress bar during `meta_fit` when > 0.

    Attributes
    ----------
    meta_params_ : dict of str to torch.Tensor
        The pretrained body θ* (``body.*``; the pretraining head is not kept).
    meta_history_ : list of dict
        One record per pretraining step: ``loss`` and ``accuracy`` on its mini-batch,
        ``time`` in seconds, and ``val_score`` when validation ran.
    pretrain_history_ : skorch.callbacks.History
        skorch's history of the steps of the last `meta_fit` call (``train_loss``,
        ``train_acc`` per batch, ``dur``), e.g. ``pretrain_history_[:, "train_loss"]``.
    n_pretrain_classes_ : int
        Classes of the pretraining problem.
    n_meta_iter_ : int
        Pretraining steps done.
    classes_ : ndarray of shape (n_classes,)
        Labels of the support set given to `fit`.
    n_features_in_ : int
        Features seen at `fit` (pixels, for images).

    See Also
    --------
    ProtoNetClassifier : a metric meta-learner; compare it with this baseline.
    MAMLClassifier : a learned initialisation adapted by a few gradient steps.

    Notes
    -----
    The pretraining problem has one class per class of a pool ``meta_fit(X, y)``, per
    (group, label) pair of ``meta_fit(X, y, groups)``, per original class of tasks that
    carry ``task.classes`` (episodes of `EpisodeSampler`), and per label of each task
    otherwise. From a pool, `meta_fit` trains on ``n_meta_iterations * batch_size``
    examples, epoch after epoch. From tasks, it reads ``n_meta_iterations *
    meta_batch_size`` tasks from an endless sampler, or cycles over a finite list (whose
    tasks keep their classes from one pass to the next); the output layer grows as new
    classes arrive.

    References
    ----------
    W.-Y. Chen, Y.-C. Liu, Z. Kira, Y.-C. F. Wang and J.-B. Huang. "A Closer Look at
    Few-shot Classification". ICLR 2019. Y. Tian, Y. Wang, D. Krishnan, J. B. Tenenbaum and
    P. Isola. "Rethinking Few-Shot Image Classification: a Good Embedding Is All You
    Need?". ECCV 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skmeta import FineTuneClassifier
    >>> X, y = make_blobs(600, centers=30, n_features=8, random_state=0)
    >>> clf = FineTuneClassifier(n_meta_iterations=50, random_state=0)
    >>> clf = clf.meta_fit(X[y >= 3], y[y >= 3])        # pretrain on 27 classes
    >>> clf.fit(X[y < 3][:9], y[y < 3][:9]).predict(X[:2]).shape   # 3 new classes
    (2,)
    """

    _parameter_constraints: dict = {
        **MetaEstimatorMixin._parameter_constraints,
        "backbone": [StrOptions(set(BACKBONES)), nn.Module],
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "freeze": [Interval(Integral, 0, None, closed="left"), StrOptions({"body"})],
        "finetune_lr": [Interval(Real, 0, None, closed="neither")],
        "n_finetune_steps": [Interval(Integral, 1, None, closed="left")],
        "transductive": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }
    _architecture_params = ("backbone", "hidden_layer_sizes")

    def __init__(
        self,
        *,
        backbone: str | nn.Module = "mlp",
        hidden_layer_sizes: tuple[int, ...] = (64, 64),
        freeze: int | str = "body",
        finetune_lr: float = 2e-2,
        n_finetune_steps: int = 50,
        transductive: bool = False,
        meta_lr: float = 1e-3,
        n_meta_iterations: int = 1000,
        batch_size: int = 64,
        meta_batch_size: int = 4,
        validation_interval: int = 100,
        patience: int | None = None,
        prior: Any = None,
        device: str | torch.device = "auto",
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.backbone = backbone
        self.hidden_layer_sizes = hidden_layer_sizes
        self.freeze = freeze
        self.finetune_lr = finetune_lr
        self.n_finetune_steps = n_finetune_steps
        self.transductive = transductive
        self.meta_lr = meta_lr
        self.n_meta_iterations = n_meta_iterations
        self.batch_size = batch_size
        self.meta_batch_size = meta_batch_size
        self.validation_interval = validation_interval
        self.patience = patience
        self.prior = prior
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ pretraining
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
    ) -> FineTuneClassifier:
        """Pretrain the body on all classes of the meta-training data.

        Parameters
        ----------
        tasks : array-like, or iterable of Task or of (X, y) pairs
            A labelled pool ``X`` (with ``y``, optionally ``groups``), or tasks: a list,
            or a sampler such as `skmeta.tasks.EpisodeSampler`.
        y : array-like of shape (n_samples,), default=None
            Class labels of the pool.
        groups : array-like of shape (n_samples,), default=None
            The task of each row; a class is then a (group, label) pair.
        validation_tasks : list of Task or sampler, default=None
            Tasks scored (after fine-tuning on their support sets) every
            ``validation_interval`` steps; the body kept is the best one, and training
            stops after ``patience`` validations without improvement.
        checkpoint : str or path-like, default=None
            File to save pretraining state to every ``checkpoint_interval`` steps and
            when interrupted; if it exists, pretraining resumes from it.
        checkpoint_interval : int, default=50
        callbacks : list of callables, default=None
            Called as ``callback(estimator, record)`` after every pretraining step, as in
            `MetaEstimatorMixin.meta_fit`.

        Returns
        -------
        self : object

        Notes
        -----
        `MetaEstimatorMixin.meta_fit` runs the loop; this class supplies its stages (the
        pool or tasks, the skorch net, the step).
        """
        return super().meta_fit(
            tasks,
            y,
            groups,
            validation_tasks=validation_tasks,
            checkpoint=checkpoint,
            checkpoint_interval=checkpoint_interval,
            callbacks=callbacks,
        )

    def _meta_data(self, tasks: Any, y: Any, groups: Any, seed: int) -> MetaData:
        """A pool's rows, or tasks encoded as (examples, global classes); ``source``
        turns the items of a step into one mini-batch."""
        if y is None:
            tasks_data = super()._meta_data(tasks, None, groups, seed)
            try:
                period = len(tasks)
            except TypeError:  # a generator, or an endless sampler
                period = None
            pool = _TaskPool(tasks_data.input_shape, period)
            return tasks_data._replace(stream=pool.encode(tasks_data.stream), source=pool)
        X = check_array(tasks, allow_nd=True, dtype=[np.float32, np.float64], input_name="X")
        y = _as_targets(column_or_1d(y, warn=True), X.shape[0], "y")
        check_classification_targets(y)
        _, codes = np.unique(y, return_inverse=True)
        if groups is not None:
            groups = _as_targets(groups, X.shape[0], "groups")
            _, group_codes = np.unique(groups, return_inverse=True)
            pairs = np.stack([group_codes, codes], axis=1)
            _, codes = np.unique(pairs, axis=0, return_inverse=True)
        return MetaData(
            stream=_pool_rows(X.shape[0], seed),
            input_shape=tuple(X.shape[1:]),
            items_per_update=self.batch_size,
            source=_Pool(X, codes.reshape(-1)),
        )

    def _start_meta_training(
        self, data: MetaData, device: torch.device
    ) -> tuple[dict[str, torch.Tensor], torch.optim.Optimizer]:
        """The network (body and a head for the classes known so far) in a skorch net."""
        network, net_shape = self._build_network(data.input_shape, max(data.source.n_classes, 1))
        network = network.to(device)
        self._frozen_names(network)  # a bad freeze fails now, not after pretraining
        body = self._initial_params(network, net_shape, data.input_shape, device)
        with torch.no_grad():
            for name, p in network.named_parameters():
                if name in body:
                    p.copy_(body[name])
        net = _PretrainNet(
            network,
            criterion=nn.CrossEntropyLoss,
            optimizer=torch.optim.Adam,
            lr=self.meta_lr,
            train_split=None,
            device=device,
            verbose=0,
        ).initialize()
        self.network_, self.net_input_shape_ = net.module_, net_shape
        self._pretraining = (net, data.source)
        net.notify("on_train_begin")
        return dict(net.module_.named_parameters()), net.optimizer_

    def _restore_meta_training(
        self,
        state: dict[str, Any],
        params: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
    ) -> _MetaLoop:
        """The head first grows to the classes the checkpoint had seen."""
        net, _ = self._pretraining
        n_rows = state["params"]["head.weight"].shape[0]
        if n_rows > net.module_.head.out_features:
            _grow_head(net, n_rows)
            params.update(net.module_.head.named_parameters(prefix="head"))
        return super()._restore_meta_training(state, params, optimizer)

    def _meta_update(
        self,
        batch: list[Any],
        params: dict[str, torch.Tensor],
        optimizer: torch.optim.Optimizer,
        device: torch.device,
    ) -> tuple[float, dict[str, float]]:
        net, source = self._pretraining
        X, y = source.batch(batch)
        if source.n_classes > net.module_.head.out_features:
            _grow_head(net, source.n_classes)
            params.update(net.module_.head.named_parameters(prefix="head"))
        X_t = self._to_tensor(X, device).reshape(X.shape[0], *self.net_input_shape_)
        net.fit_loop(X_t, torch.as_tensor(y, device=device), epochs=1)
        record = net.history[-1]
        return float(record["train_loss"]), {"accuracy": record["batches"][-1]["train_acc"]}

    def _finish_meta_training(
        self, loop: _MetaLoop, params: dict[str, torch.Tensor], validated: bool
    ) -> None:
        super()._finish_meta_training(loop, params, validated)
        # The pretraining head is thrown away: `fit` puts a new one on the body.
        self.meta_params_ = {k: v for k, v in self.meta_params_.items() if k.startswith("body.")}
        net, _ = self._pretraining
        self.pretrain_history_ = net.history
        self.n_pretrain_classes_ = int(net.module_.head.out_features)

    def _end_meta_training(self) -> None:
        net, _ = self.__dict__.pop("_pretraining")
        net.notify("on_train_end")

    # ------------------------------------------------------------ adaptation
    def _build_network(
        self, input_shape: tuple[int, ...], n_outputs: int
    ) -> tuple[nn.Module, tuple[int, ...]]:
        return make_predictor(
            self.backbone, input_shape, n_outputs, hidden_layer_sizes=self.hidden_layer_sizes
        )

    def _meta_parameters(self, network: nn.Module) -> dict[str, torch.Tensor]:
        """θ is the body: the head is re-initialised for every task."""
        return {
            k: v.detach().clone() for k, v in network.named_parameters() if k.startswith("body.")
        }

    def _frozen_names(self, network: nn.Module) -> set[str]:
        layers = _body_layers(network.body)
        if isinstance(self.freeze, bool):
            raise ValueError(
                f"freeze={self.freeze} is ambiguous: give 'body' (all the body's layers), a "
                "number of the body's first layers to freeze, or 0 to fine-tune them all."
            )
        if self.freeze == "body":
            return {name for layer in layers for name in layer}
        if self.freeze > len(layers):
            raise ValueError(
                f"freeze={self.freeze}, but the body has only {len(layers)} layers with "
                f"parameters; use freeze <= {len(layers)}, or freeze='body' to train the "
                "head alone."
            )
        return {name for layer in layers[: self.freeze] for name in layer}

    def _features(self, weights: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
        body = {k[len("body.") :]: v for k, v in weights.items() if k.startswith("body.")}
        x = X.reshape(X.shape[0], *self.net_input_shape_)
        return functional_call(self.network_.body, body, (x,)).flatten(1)

    def _adapt(
        self, params: dict[str, torch.Tensor], X: torch.Tensor, y: torch.Tensor, n_classes: int
    ) -> dict[str, Any]:
        body = {k: v.detach() for k, v in params.items() if k.startswith("body.")}
        tuned = [k for k in body if k not in self._frozen_names(self.network_)]
        with torch.enable_grad():
            weights = {**body, **{k: body[k].clone().requires_grad_(True) for k in tuned}}
            # With the body frozen, its features of the support set are computed once.
            fixed = None if tuned else self._features(body, X)
            width = (fixed if fixed is not None else self._features(body, X[:2])).shape[1]
            # A zero head makes fit independent of the seed; with a frozen body the
            # problem is then convex (multinomial logistic regression on the features).
            weights["head.weight"] = X.new_zeros((n_classes, width), requires_grad=True)
            weights["head.bias"] = X.new_zeros(n_classes, requires_grad=True)
            names = [*tuned, "head.weight", "head.bias"]
            moments = [(torch.zeros_like(weights[k]), torch.zeros_like(weights[k])) for k in names]
            for step in range(1, self.n_finetune_steps + 1):
                z = fixed if fixed is not None else self._features(weights, X)
                loss = F.cross_entropy(F.linear(z, weights["head.weight"], weights["head.bias"]), y)
                grads = torch.autograd.grad(loss, [weights[k] for k in names])
                with torch.no_grad():
                    for k, g, (m, v) in zip(names, grads, moments):
                        _adam_step(weights[k], g, m, v, step, self.finetune_lr)
        state: dict[str, Any] = {"weights": {k: v.detach() for k, v in weights.items()}}
        if has_task_norm(self.network_) and not self.transductive:
            state["X_support"] = X
        return state

    def _predict_scores(self, state: dict[str, Any], X: torch.Tensor) -> torch.Tensor:
        weights = state["weights"]
        support = state.get("X_support")
        if support is None and has_task_norm(self.network_):
            z = self._features(weights, X)  # transductive: the queries' own statistics
        elif support is None:
            z = torch.cat([self._features(weights, c) for c in X.split(_PREDICT_CHUNK)])
        else:
            n, parts = support.shape[0], []
            for chunk in X.split(_PREDICT_CHUNK):
                with reference_rows(self.network_, n):
                    parts.append(self._features(weights, torch.cat([support, chunk]))[n:])
            z = torch.cat(parts)
        return F.linear(z, weights["head.weight"], weights["head.bias"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
