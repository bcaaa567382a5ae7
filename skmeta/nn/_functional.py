"""Calling a module with parameters given in a dict, as ``torch.func.functional_call``."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.func import functional_call as _torch_functional_call

# Per module: (the dict holding a parameter, its local name, its full name) for every
# parameter slot, found once (a module's structure does not change after it is built).
_SLOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _slots(module: nn.Module) -> list[tuple[dict, str, str]]:
    slots = _SLOTS.get(module)
    if slots is None:
        slots = [
            (sub._parameters, local, f"{prefix}.{local}" if prefix else local)
            for prefix, sub in module.named_modules(remove_duplicate=False)
            for local, p in sub._parameters.items()
            if p is not None
        ]
        _SLOTS[module] = slots
    return slots


def _transforms_active() -> bool:
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return True if active is None else bool(active())


def functional_call(module: nn.Module, params: Mapping[str, torch.Tensor], args: Any) -> Any:
    """``module(*args)`` with its parameters replaced by ``params`` for the call.

    The same result and autograd graph as ``torch.func.functional_call(module, params,
    args)`` when ``params`` names every parameter slot of ``module`` (skmeta's learners
    always pass them all), with a fraction of its bookkeeping: the slots are found once
    per module and swapped in place, where torch's version walks the module tree and
    checks for tied weights on every call — about 35 µs a call, a fifth of a small
    network's ``fit`` + ``predict`` (``benchmarks/adaptation_speed.py``). Anything else
    (a subset or superset of the names, weights tied under two names, inside a
    ``torch.func`` transform such as ``vmap``) goes to torch's version.
    """
    if not isinstance(args, tuple):
        args = (args,)
    slots = _slots(module)
    if len(params) != len(slots) or _transforms_active():
        return _torch_functional_call(module, params, args)
    try:
        new = [params[full] for _, _, full in slots]
    except KeyError:
        return _torch_functional_call(module, params, args)
    saved = [store[local] for store, local, _ in slots]
    try:
        for (store, local, _), tensor in zip(slots, new):
            store[local] = tensor
        return module(*args)
    finally:
        for (store, local, _), old in zip(slots, saved):
            store[local] = old
