"""The training loop: a skorch `NeuralNet` with task-aware batches, loss and updates.

skorch drives the epochs, its callbacks (early stopping, progress, user callbacks) and
its ``history``. Three hooks make it multi-task:

* `get_iterator` yields minibatches of whole tensors, drawn per epoch according to the
  task sampling (skorch's default `DataLoader` collates example by example, which costs
  more than the small networks of multi-task learning take to train);
* `get_loss` asks the task weighting for the objective and adds the soft-sharing penalty;
* `train_step_single` combines per-task gradients for gradient-based weightings (PCGrad).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNet
from skorch.dataset import unpack_data
from torch import nn

from ._weighting import TaskWeighting


class TaskBatches:
    """Minibatches ``({"X": X, "task": task}, y)`` over tensors, drawn anew each epoch.

    Parameters
    ----------
    X, y : torch.Tensor
    task : torch.Tensor of int or None
        Task index of each row (None: one task).
    batch_size : int
    sampling : {"proportional", "balanced", None}
        "proportional" shuffles the rows (a task appears as often as it has rows);
        "balanced" draws rows with replacement, each task with equal probability; None
        keeps the row order (evaluation).
    generator : torch.Generator or None
    """

    def __init__(self, X, y, task, batch_size, sampling=None, generator=None) -> None:
        self.X, self.y, self.task = X, y, task
        self.batch_size, self.sampling, self.generator = batch_size, sampling, generator
        if sampling == "balanced" and task is not None:
            counts = torch.bincount(task).to(torch.float32)
            self.row_weights = (1.0 / counts)[task]

    def __len__(self) -> int:
        return -(-self.X.shape[0] // self.batch_size)

    def __iter__(self):
        n = self.X.shape[0]
        if self.sampling is None:
            order = None
        elif self.sampling == "balanced" and self.task is not None:
            order = torch.multinomial(
                self.row_weights, n, replacement=True, generator=self.generator
            )
        else:
            order = torch.randperm(n, generator=self.generator, device="cpu")
        if order is not None:
            order = order.to(self.X.device)
        for start in range(0, n, self.batch_size):
            if order is None:
                rows = slice(start, start + self.batch_size)
            else:
                rows = order[start : start + self.batch_size]
            batch = {"X": self.X[rows]}
            if self.task is not None:
                batch["task"] = self.task[rows]
            yield batch, self.y[rows]


class MultiTaskLoss(nn.Module):
    """Per-example loss (squared error or cross-entropy), combined by a task weighting.

    The weighting's learnable state (e.g. log-variances) are parameters of this module,
    so skorch's optimiser learns them with the network.
    """

    def __init__(
        self, weighting: TaskWeighting, task_ids: np.ndarray, classification: bool
    ) -> None:
        super().__init__()
        self.weighting, self.classification = weighting, classification
        self.learned = nn.ParameterDict()
        self.fixed: dict[str, torch.Tensor] = {}
        for name, value in weighting.init(task_ids, classification).items():
            if value.requires_grad:
                self.learned[name] = nn.Parameter(value.detach().clone())
            else:
                self.register_buffer(f"fixed_{name}", value)
                self.fixed[name] = value

    def state(self) -> dict[str, torch.Tensor]:
        fixed = {name: getattr(self, f"fixed_{name}") for name in self.fixed}
        return {**fixed, **dict(self.learned)}

    def row_losses(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.classification:
            return F.cross_entropy(y_pred, y, reduction="none")
        return (y_pred.squeeze(1) - y) ** 2

    def forward(self, y_pred, y, task) -> torch.Tensor:
        rows = self.row_losses(y_pred, y)
        if task is None:
            return rows.mean()
        return self.weighting.loss(rows, task, self.state())


class MultiTaskNet(NeuralNet):
    """skorch's `NeuralNet` for a network called as ``module(X, task)``.

    Parameters (besides NeuralNet's)
    ----------
    sharing_penalty : float
        λ of the soft-sharing penalty (the module's ``sharing_penalty()``).
    task_sampling : {"proportional", "balanced"}
    generator : torch.Generator
        Draws the minibatches.
    """

    def __init__(
        self, *args, sharing_penalty=0.0, task_sampling="proportional", generator=None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sharing_penalty = sharing_penalty
        self.task_sampling = task_sampling
        self.generator = generator

    def get_iterator(self, dataset, training=False):
        X = dataset.X
        batch_size = len(dataset) if self.batch_size == -1 else self.batch_size
        return TaskBatches(
            X["X"],
            dataset.y,
            X.get("task"),
            batch_size,
            sampling=self.task_sampling if training else None,
            generator=self.generator,
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        task = X.get("task")
        if not training:  # validation: the plain mean loss, what early stopping watches
            return self.criterion_.row_losses(y_pred, y_true).mean()
        loss = self.criterion_(y_pred, y_true, task)
        if self.sharing_penalty:
            loss = loss + self.sharing_penalty * self.module_.sharing_penalty()
        return loss

    def train_step_single(self, batch, **fit_params):
        weighting = self.criterion_.weighting
        Xi, yi = unpack_data(batch)
        if not weighting.gradient_based or Xi.get("task") is None:
            return super().train_step_single(batch, **fit_params)
        # Task-specific entries (whole per-task parameters, or W_z's columns of a
        # "concat" weight) never enter the projection: only shared entries conflict.
        cached = getattr(self, "_specific_masks", None)  # fixed by the module's structure
        if cached is None or cached[0] is not self.module_:
            masks = {id(p): m for p, m in self.module_.task_specific_masks()}
            self._specific_masks = cached = (self.module_, masks)
        masks = cached[1]
        params = [p for p in self.module_.parameters() if p.requires_grad]
        shared = [p for p in params if id(p) not in masks or not masks[id(p)].all()]
        if not shared:  # nothing is shared, so no gradients conflict
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        y_pred = self.infer(Xi, **fit_params)
        task = Xi["task"]
        _, inverse, counts = torch.unique(task, return_inverse=True, return_counts=True)
        rows = self.criterion_.row_losses(y_pred, yi)
        zeros = torch.zeros(counts.shape[0], dtype=rows.dtype, device=rows.device)
        task_losses = zeros.index_add(0, inverse, rows) / counts
        loss = task_losses.mean()
        # One backward pass per task at once (vmap over the rows of an identity matrix).
        eye = torch.eye(counts.shape[0], dtype=rows.dtype, device=rows.device)
        task_grads = list(
            torch.autograd.grad(
                task_losses,
                shared,
                grad_outputs=eye,
                is_grads_batched=True,
                retain_graph=True,
                allow_unused=True,
            )
        )
        # Entries of a shared weight that are task-specific ("concat"'s W_z columns) take
        # the plain gradient of the loss: the mean of the per-task ones, read before they
        # are masked out of the projection.
        own: dict[int, torch.Tensor] = {}
        for i, (g, p) in enumerate(zip(task_grads, shared)):
            if g is None:
                task_grads[i] = torch.zeros((counts.shape[0], *p.shape), device=p.device)
            elif id(p) in masks:
                own[id(p)] = g.mean(dim=0)
                task_grads[i] = g.masked_fill(masks[id(p)], 0.0)
        flat = torch.cat([g.reshape(counts.shape[0], -1) for g in task_grads], dim=1)
        direction = weighting.aggregate(flat)
        offset = 0
        for p in shared:
            p.grad = direction[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        penalty = None
        if self.sharing_penalty:
            penalty = self.sharing_penalty * self.module_.sharing_penalty()
        total = loss if penalty is None else loss + penalty
        # Whole per-task parameters: the plain gradient of the loss and the penalty.
        specific = [p for p in params if id(p) in masks and id(p) not in own]
        if specific:
            for p, g in zip(specific, torch.autograd.grad(total, specific, allow_unused=True)):
                p.grad = torch.zeros_like(p) if g is None else g
        # Partly task-specific weights: the penalty's gradient (no pass through the
        # network: the penalty reads the parameters directly) on their task entries.
        partial = [p for p in shared if id(p) in own]
        if partial and penalty is not None:
            for p, g in zip(partial, torch.autograd.grad(penalty, partial, allow_unused=True)):
                if g is not None:
                    own[id(p)] = own[id(p)] + g
        for p in partial:
            p.grad = torch.where(masks[id(p)], own[id(p)], p.grad)
        return {"loss": total.detach(), "y_pred": y_pred}
