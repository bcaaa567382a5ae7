"""Task weighting: how the losses (or gradients) of many tasks make one update.

A weighting is a small object with pure functions, in the manner of optax and torchjd:

* ``init(task_ids, classification)`` returns its state, a dict of tensors; tensors that
  require grad are learned jointly with the network (e.g. the log-variances of
  `UncertaintyWeights`);
* ``loss(row_losses, tasks, state)`` turns the per-example losses of a minibatch, with
  the task index of each example, into the scalar objective;
* ``aggregate(task_grads)`` (gradient-based methods only) turns one gradient per task of
  the shared parameters into the update direction.

Which rows a minibatch holds is decided by ``task_sampling``; the weighting only scales
what is in it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["TaskWeighting", "EqualWeights", "FixedWeights", "UncertaintyWeights", "PCGrad"]


class TaskWeighting:
    """Base class of task-weighting strategies: every task counts once per example.

    Subclasses override `init`, `loss` and, for gradient-based methods, `aggregate`
    (setting ``gradient_based = True``).

    Examples
    --------
    >>> import torch
    >>> from skmeta.multitask import TaskWeighting
    >>> w = TaskWeighting()
    >>> w.loss(torch.tensor([1.0, 3.0]), torch.tensor([0, 1]), w.init([0, 1]))
    tensor(2.)
    """

    #: Whether the strategy combines per-task gradients (`aggregate`) instead of losses.
    gradient_based = False

    def init(self, task_ids: np.ndarray, classification: bool = False) -> dict[str, torch.Tensor]:
        """The strategy's state for the tasks ``task_ids`` (sorted, as the estimator's)."""
        return {}

    def loss(
        self, row_losses: torch.Tensor, tasks: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """The scalar objective from the per-example losses and their task indices."""
        return row_losses.mean()

    def aggregate(self, task_grads: torch.Tensor) -> torch.Tensor:
        """The update direction from per-task gradients of shape (n_tasks, n_params)."""
        raise NotImplementedError(f"{type(self).__name__} is not gradient-based.")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EqualWeights(TaskWeighting):
    """Every task has weight 1: the plain mean of the per-example losses.

    With ``task_sampling="proportional"`` a task then counts in proportion to its number
    of examples; with ``"balanced"`` every task counts the same.
    """


class FixedWeights(TaskWeighting):
    """Fixed weights w_i per task: the mean of ``w[task] * loss`` over the minibatch.

    Parameters
    ----------
    weights : dict
        ``{task_id: weight}``; tasks not named get weight ``default``. Entries for tasks
        not in the training data are ignored (a cross-validation fold trains on some of
        the tasks), unless no entry names a training task.
    default : float, default=1.0

    Examples
    --------
    >>> import torch
    >>> from skmeta.multitask import FixedWeights
    >>> w = FixedWeights({"b": 3.0})
    >>> state = w.init(["a", "b"])
    >>> w.loss(torch.tensor([1.0, 1.0]), torch.tensor([0, 1]), state)
    tensor(2.)
    """

    def __init__(self, weights: dict[Any, float], default: float = 1.0) -> None:
        self.weights = dict(weights)
        self.default = float(default)

    def init(self, task_ids: np.ndarray, classification: bool = False) -> dict[str, torch.Tensor]:
        known = set(np.asarray(task_ids).tolist())
        unknown = [t for t in self.weights if t not in known]
        if unknown and len(unknown) == len(self.weights):
            # None matches: keys of another type or typos. (Some unknown keys are fine: one
            # dict covers all tasks, and a cross-validation fold trains on some of them.)
            raise ValueError(
                f"task_weights names tasks {unknown[:5]}, none of which is among the training "
                f"tasks {sorted(known)[:10]}{' ...' if len(known) > 10 else ''}; key the dict "
                "by the task ids passed to fit or meta_fit."
            )
        w = [float(self.weights.get(t, self.default)) for t in np.asarray(task_ids).tolist()]
        if any(not np.isfinite(v) or v < 0 for v in w):
            raise ValueError(f"task_weights must be finite and >= 0; got {self.weights}.")
        if not any(w):
            raise ValueError(
                f"task_weights gives every training task weight 0 ({self.weights}): the loss "
                "would be 0 and nothing would be learned. Give some task a positive weight."
            )
        return {"weights": torch.tensor(w, dtype=torch.float32)}

    def loss(self, row_losses, tasks, state):
        return (state["weights"][tasks] * row_losses).mean()

    def __repr__(self) -> str:
        return f"FixedWeights({self.weights!r}, default={self.default!r})"


class UncertaintyWeights(TaskWeighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018).

    Each task has a learned log-variance s_t = log σ_t². For regression every example's
    loss becomes the Gaussian negative log-likelihood with the noise of its task,
    ``exp(-s_t) * loss / 2 + s_t / 2``; for classification, Kendall et al.'s
    approximation ``exp(-s_t) * loss + s_t / 2``. Noisy tasks learn a large σ_t and are
    down-weighted; the ``s_t / 2`` term stops every σ_t from growing without bound.

    Examples
    --------
    >>> import torch
    >>> from skmeta.multitask import UncertaintyWeights
    >>> w = UncertaintyWeights()
    >>> state = w.init([0, 1])
    >>> w.loss(torch.tensor([2.0, 2.0]), torch.tensor([0, 1]), state)  # s = 0: loss / 2
    tensor(1., grad_fn=<MeanBackward0>)
    """

    def init(self, task_ids: np.ndarray, classification: bool = False) -> dict[str, torch.Tensor]:
        scale = 1.0 if classification else 0.5
        return {
            "log_var": torch.zeros(len(task_ids), requires_grad=True),
            "scale": torch.tensor(scale),
        }

    def loss(self, row_losses, tasks, state):
        s = state["log_var"][tasks]
        return (state["scale"] * torch.exp(-s) * row_losses + 0.5 * s).mean()


class PCGrad(TaskWeighting):
    """Projecting conflicting gradients (Yu et al., NeurIPS 2020).

    For the shared parameters, each task's gradient g_i is projected, against every other
    task j in a random order, onto the normal plane of g_j whenever the two conflict
    (g_i · g_j < 0); the update is the mean of the projected gradients. Task-specific
    parameters receive their ordinary gradient. The per-task losses are the mean losses
    of each task's examples in the minibatch.

    Examples
    --------
    >>> import torch
    >>> from skmeta.multitask import PCGrad
    >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])   # conflicting: g0 . g1 < 0
    >>> d = PCGrad().aggregate(g)
    >>> bool(d @ g[0] >= 0) and bool(d @ g[1] >= 0)
    True
    """

    gradient_based = True

    def loss(self, row_losses, tasks, state):
        _, inverse, counts = torch.unique(tasks, return_inverse=True, return_counts=True)
        per_task = torch.zeros(counts.shape[0], dtype=row_losses.dtype, device=row_losses.device)
        return (per_task.index_add(0, inverse, row_losses) / counts).mean()

    def aggregate(self, task_grads: torch.Tensor) -> torch.Tensor:
        n = task_grads.shape[0]
        projected = task_grads.clone()
        sq_norms = (task_grads * task_grads).sum(dim=1).clamp_min(1e-20)
        # Each task meets the others in its own order (cyclic shifts of one random
        # permutation), as in the paper, with the projections of all tasks done at once.
        order = torch.randperm(n, device=task_grads.device)
        position = torch.empty_like(order)
        position[order] = torch.arange(n, device=task_grads.device)
        for shift in range(1, n):
            other = order[(position + shift) % n]
            dots = (projected * task_grads[other]).sum(dim=1)
            coef = dots.clamp(max=0.0) / sq_norms[other]
            projected = projected - coef[:, None] * task_grads[other]
        return projected.mean(dim=0)


WEIGHTINGS = {"equal": EqualWeights, "uncertainty": UncertaintyWeights, "pcgrad": PCGrad}


def resolve_weighting(task_weights: Any) -> TaskWeighting:
    """The `TaskWeighting` named by an estimator's ``task_weights`` parameter."""
    if isinstance(task_weights, TaskWeighting):
        return task_weights
    if isinstance(task_weights, dict):
        return FixedWeights(task_weights)
    return WEIGHTINGS[task_weights]()
