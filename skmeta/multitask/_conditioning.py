"""The multi-task network: an MLP whose layers a task descriptor z_i conditions.

Layer k (0 = the first hidden layer, the last = the output layer) maps h to a_k. Where
the descriptor z enters layer k:

* ``concat``: a_k = W [h; z] + b, the descriptor concatenated to the layer's input;
* ``additive``: a_k = W h + b + E z, a task-conditional bias;
* ``multiplicative``: the layer's output (after its activation) is scaled by 1 + E z,
  a task-conditional gate per unit;
* ``multihead``: the layer has one copy (W_i, b_i) per task;
* ``independent``: every layer has one copy per task (no sharing);
* ``shared``: z is ignored (full sharing).

Writing W [h; z] = W_h h + W_z z shows that ``concat`` and ``additive`` are one model
(with E = W_z); only the initialisation differs. With a one-hot z, E z is column i of E,
so each task's conditioning vectors are looked up, not multiplied.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CONDITIONINGS = ("concat", "additive", "multihead", "multiplicative", "independent", "shared")


def _uniform(shape: tuple[int, ...], fan_in: int) -> nn.Parameter:
    """torch.nn.Linear's default initialisation, for a weight with ``fan_in`` inputs."""
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class ConditionedLinear(nn.Module):
    """One layer of `MultiTaskNetwork`: a linear map, its activation and its conditioning.

    Parameters
    ----------
    n_in, n_out : int
    mode : {None, "concat", "additive", "multiplicative", "task"}
        How the task conditions the layer; "task" keeps one copy of it per task.
    n_tasks : int
    n_descriptor : int
        Size of the descriptor z (the number of tasks for one-hot descriptors).
    activation : bool
        Apply a ReLU (every layer but the output layer).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        mode: str | None,
        n_tasks: int,
        n_descriptor: int,
        activation: bool,
    ) -> None:
        super().__init__()
        self.mode, self.activation = mode, activation
        if mode == "task":
            self.weight = _uniform((n_tasks, n_out, n_in), n_in)
            self.bias = _uniform((n_tasks, n_out), n_in)
            return
        # concat is literally a Linear on [h; z]: its last n_descriptor columns are W_z.
        n_cols = n_in + n_descriptor if mode == "concat" else n_in
        self.n_in = n_in
        self.weight = _uniform((n_out, n_cols), n_cols)
        self.bias = _uniform((n_out,), n_cols)
        if mode in ("additive", "multiplicative"):  # E, stored as E^T so rows are looked up
            self.task_embedding = nn.Parameter(torch.zeros(n_descriptor, n_out))

    def forward(
        self,
        h: torch.Tensor,
        task: torch.Tensor | None,
        z: torch.Tensor | None,
        own: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``task``: row task indices (one-hot z); ``z``: dense descriptors, one row each
        (or one row for all); ``own``: this layer's copy for a new task (mode "task")."""
        if self.mode == "task":
            if own is not None:
                a = F.linear(h, own["weight"], own["bias"])
            else:
                a = torch.baddbmm(
                    self.bias[task].unsqueeze(2), self.weight[task], h.unsqueeze(2)
                ).squeeze(2)
        elif self.mode == "concat":
            if z is None:
                z = F.one_hot(task, self.weight.shape[1] - self.n_in).to(h.dtype)
            z = z.expand(h.shape[0], -1)
            a = F.linear(torch.cat([h, z], dim=1), self.weight, self.bias)
        else:
            a = F.linear(h, self.weight, self.bias)
        if self.mode == "additive":
            a = a + self._code(task, z)
        if self.activation:
            a = F.relu(a)
        if self.mode == "multiplicative":
            a = a * (1.0 + self._code(task, z))
        return a

    def _code(self, task: torch.Tensor | None, z: torch.Tensor | None) -> torch.Tensor:
        """E z for each row: a column look-up for one-hot z, else a product."""
        if z is None:
            return self.task_embedding[task]
        return z @ self.task_embedding


class MultiTaskNetwork(nn.Module):
    """An MLP conditioned on the task: shared parameters θ^sh and task-specific θ^i.

    Parameters
    ----------
    n_features, n_outputs : int
    hidden_layer_sizes : sequence of int
    conditioning : str
        One of ``CONDITIONINGS``.
    conditioning_layers : sequence of int
        Layers the descriptor conditions (or, for "multihead", the layers copied per
        task); ignored by "independent" and "shared".
    n_tasks : int
    descriptors : torch.Tensor of shape (n_tasks, n_descriptor) or None
        Task metadata; None for one-hot descriptors.

    Examples
    --------
    >>> import torch
    >>> from skmeta.multitask._conditioning import MultiTaskNetwork
    >>> net = MultiTaskNetwork(3, 1, (8,), "additive", (0, 1), n_tasks=4)
    >>> net(torch.randn(5, 3), torch.tensor([0, 1, 2, 3, 0])).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: tuple[int, ...],
        conditioning: str,
        conditioning_layers: tuple[int, ...],
        n_tasks: int,
        descriptors: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        sizes = [n_features, *hidden_layer_sizes, n_outputs]
        n_layers = len(sizes) - 1
        if conditioning == "independent":
            conditioned = set(range(n_layers))
        elif conditioning == "shared":
            conditioned = set()
        else:
            conditioned = set(conditioning_layers)
        mode = "task" if conditioning in ("multihead", "independent") else conditioning
        self.conditioning = conditioning
        self.n_tasks = n_tasks
        self.register_buffer("descriptors", descriptors)
        n_descriptor = n_tasks if descriptors is None else descriptors.shape[1]
        self.layers = nn.ModuleList(
            ConditionedLinear(
                sizes[k],
                sizes[k + 1],
                mode if k in conditioned else None,
                n_tasks,
                n_descriptor,
                activation=k < n_layers - 1,
            )
            for k in range(n_layers)
        )

    def forward(
        self, X: torch.Tensor, task: torch.Tensor | None = None, new_task: dict | None = None
    ) -> torch.Tensor:
        """Outputs for rows of known tasks (``task``), or all for one ``new_task``.

        ``new_task`` holds a new task's own parameters (see `new_task_init`).
        """
        z = None
        if new_task is not None:
            z, task = new_task.get("descriptor"), None
            if z is not None:
                z = z.unsqueeze(0)
        elif self.descriptors is not None:
            z = self.descriptors[task]
        h = X
        for k, layer in enumerate(self.layers):
            own = None if new_task is None else new_task.get(f"layers.{k}")
            h = layer(h, task, z, own)
        return h

    def task_specific(self) -> dict[str, tuple[torch.Tensor, int]]:
        """θ^i, the parameters with one slice per task: name -> (tensor, task axis).

        For "concat" with one-hot descriptors that is a view, the columns W_z of a
        weight whose other columns are shared.
        """
        return {
            name: (param if index is None else param[index], axis)
            for name, param, index, axis in self._specific_entries()
        }

    def task_specific_masks(self) -> list[tuple[nn.Parameter, torch.Tensor]]:
        """(parameter, boolean mask of its task-specific entries) for every parameter
        holding any: all True for a per-task parameter, W_z's columns for "concat"."""
        out = []
        for _, param, index, _ in self._specific_entries():
            mask = torch.zeros_like(param, dtype=torch.bool)
            mask[index if index is not None else ...] = True
            out.append((param, mask))
        return out

    def _specific_entries(self):
        """(name, parameter, index into it or None for all of it, task axis)."""
        for k, layer in enumerate(self.layers):
            if layer.mode == "task":
                yield f"layers.{k}.weight", layer.weight, None, 0
                yield f"layers.{k}.bias", layer.bias, None, 0
            elif layer.mode == "concat" and self.descriptors is None:  # W_z's columns
                columns = (slice(None), slice(layer.n_in, None))
                yield f"layers.{k}.weight[:, {layer.n_in}:]", layer.weight, columns, 1
            elif layer.mode is not None and self.descriptors is None:
                yield f"layers.{k}.task_embedding", layer.task_embedding, None, 0

    def sharing_penalty(self) -> torch.Tensor:
        """Σ_i ||θ^i − θ̄||² over the task-specific parameters.

        Equal to (1/T) Σ_{i<j} ||θ^i − θ^j||², the soft-sharing penalty between the T
        task copies, computed in O(T) instead of O(T²).
        """
        total = torch.zeros((), device=self.layers[0].weight.device)
        for tensor, axis in self.task_specific().values():
            total = total + ((tensor - tensor.mean(dim=axis, keepdim=True)) ** 2).sum()
        return total

    def new_task_init(self) -> dict:
        """A new task's own parameters, initialised at the average known task.

        For descriptor conditionings that is a descriptor z (the mean of the known ones:
        with one-hot descriptors, the uniform mixture of tasks); for "multihead" and
        "independent" a copy of each task-specific layer. "shared" has none.
        """
        new: dict = {}
        if any(layer.mode in ("concat", "additive", "multiplicative") for layer in self.layers):
            if self.descriptors is None:
                z = torch.full((self.n_tasks,), 1.0 / self.n_tasks)
            else:
                z = self.descriptors.mean(dim=0)
            new["descriptor"] = z.to(self.layers[0].weight.device).clone()
        for k, layer in enumerate(self.layers):
            if layer.mode == "task":
                new[f"layers.{k}"] = {
                    "weight": layer.weight.detach().mean(dim=0).clone(),
                    "bias": layer.bias.detach().mean(dim=0).clone(),
                }
        return new


class NewTaskModule(nn.Module):
    """A new task's own parameters on top of a frozen multi-task network.

    Only the new task's descriptor or layer copies are parameters of this module; the
    network it wraps is held outside the module tree, so no optimiser ever sees it.
    """

    def __init__(self, network: MultiTaskNetwork) -> None:
        super().__init__()
        self._frozen = (network,)  # a tuple hides it from nn.Module's registration
        init = network.new_task_init()
        self.init = {k: _detach(v) for k, v in init.items()}
        self.descriptor = nn.Parameter(init["descriptor"]) if "descriptor" in init else None
        self.own = nn.ParameterDict(
            {
                f"{k.replace('.', '_')}_{name}": nn.Parameter(t)
                for k, v in init.items()
                if k != "descriptor"
                for name, t in v.items()
            }
        )

    def state(self) -> dict:
        """The new task's parameters, in the form `MultiTaskNetwork.forward` takes."""
        new: dict = {}
        if self.descriptor is not None:
            new["descriptor"] = self.descriptor
        for k, v in self.init.items():
            if k != "descriptor":
                new[k] = {name: self.own[f"{k.replace('.', '_')}_{name}"] for name in v}
        return new

    def forward(self, X: torch.Tensor, task: torch.Tensor | None = None) -> torch.Tensor:
        return self._frozen[0](X, new_task=self.state())

    def sharing_penalty(self) -> torch.Tensor:
        """||φ − φ̄||²: the soft-sharing tie of the new task to the average known task."""
        return sum(
            ((p - p0) ** 2).sum() for p, p0 in zip(_leaves(self.state()), _leaves(self.init))
        )


def _detach(value):
    if isinstance(value, dict):
        return {k: v.detach().clone() for k, v in value.items()}
    return value.detach().clone()


def _leaves(tree: dict) -> list[torch.Tensor]:
    out = []
    for key in sorted(tree):
        value = tree[key]
        if isinstance(value, dict):
            out.extend(value[k] for k in sorted(value))
        else:
            out.append(value)
    return out
