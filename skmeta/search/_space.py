"""Search spaces: Optuna distributions, the plain-dict shorthand, and their checks."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError


def as_distribution(name: str, spec: Any) -> BaseDistribution:
    """Turn one entry of ``param_distributions`` into an Optuna distribution.

    Accepted forms: an Optuna distribution; a list of choices (categorical); a tuple
    ``(low, high)`` (integers if both bounds are integers, else floats) or
    ``(low, high, "log")`` for a log-uniform range.
    """
    if isinstance(spec, BaseDistribution):
        return spec
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"param_distributions[{name!r}] is an empty list of choices.")
        with warnings.catch_warnings():
            # Optuna warns that a storage cannot keep a tuple or a module: it never sees
            # them, only their labels (see `stored`)
            warnings.filterwarnings("ignore", "Choices for a categorical distribution")
            return CategoricalDistribution(spec)
    if isinstance(spec, tuple) and len(spec) in (2, 3):
        low, high, *scale = spec
        log = bool(scale) and scale[0] == "log"
        if scale and not log:
            raise ValueError(
                f"param_distributions[{name!r}] = {spec!r}: the third entry of a range may only "
                "be 'log'."
            )
        numbers = all(isinstance(v, Real) and not isinstance(v, bool) for v in (low, high))
        if not numbers or not low < high:
            raise ValueError(
                f"param_distributions[{name!r}] = {spec!r}: a range is (low, high) or "
                "(low, high, 'log') with numbers low < high."
            )
        if log and low <= 0:
            raise ValueError(
                f"param_distributions[{name!r}] = {spec!r}: a log range needs low > 0; use "
                "(low, high) for a range that includes 0."
            )
        if isinstance(low, Integral) and isinstance(high, Integral):
            return IntDistribution(int(low), int(high), log=log)
        return FloatDistribution(float(low), float(high), log=log)
    raise TypeError(
        f"param_distributions[{name!r}] = {spec!r} is not a distribution. Use an "
        "optuna.distributions object, a list of choices, or a tuple (low, high[, 'log'])."
    )


def check_space(estimator: Any, param_distributions: Mapping[str, Any]) -> dict:
    """Check a search space against an estimator; return it as Optuna distributions.

    Every name must be a parameter of the estimator (nested ``step__param`` names
    included), and the bounds or choices of every distribution must be values the
    estimator accepts: a float range over an integer parameter, or a choice the
    estimator's parameter validation rejects, fails here, before any trial runs.
    """
    if not isinstance(param_distributions, Mapping) or not param_distributions:
        raise ValueError(
            "param_distributions must be a non-empty dict mapping parameter names to "
            f"distributions; got {param_distributions!r}."
        )
    valid = estimator.get_params(deep=True)
    space = {}
    for name, spec in param_distributions.items():
        if name not in valid:
            close = [k for k in valid if name.lower() in k.lower() or k.lower() in name.lower()]
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"{type(estimator).__name__} has no parameter {name!r}.{hint} Its parameters "
                f"are: {sorted(valid)}."
            )
        space[name] = as_distribution(name, spec)
    for name, dist in space.items():
        for value in _representatives(dist):
            _check_value(estimator, name, value, dist)
    return space


def _representatives(dist: BaseDistribution) -> list[Any]:
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution):
        return [int(dist.low), int(dist.high)]
    mid = math.sqrt(dist.low * dist.high) if dist.log else (dist.low + dist.high) / 2
    return [float(dist.low), float(mid), float(dist.high)]


def _check_value(estimator: Any, name: str, value: Any, dist: BaseDistribution) -> None:
    trial_estimator = clone(estimator).set_params(**{name: value})
    # Nested parameters belong to a sub-estimator: validate the object that owns them.
    owner, key = trial_estimator, name
    while "__" in key:
        head, key = key.split("__", 1)
        owner = owner.get_params(deep=False)[head]
    validate = getattr(owner, "_validate_params", None)
    if validate is None:
        return
    try:
        validate()
    except InvalidParameterError as exc:
        raise ValueError(
            f"The distribution for {name!r} ({dist!r}) does not fit the parameter: the value "
            f"{value!r} is rejected by {type(owner).__name__}: {exc}"
        ) from None


_PRIMITIVE = (type(None), bool, int, float, str)


def _labels(dist: CategoricalDistribution) -> list[Any]:
    """What Optuna stores for each choice: the choice itself when a storage keeps it as it
    is (None, bool, int, float, str), else its repr (a tuple of layer sizes comes back from
    JSON as a list, a module not at all), made unique."""
    labels: list[Any] = []
    for i, choice in enumerate(dist.choices):
        label = choice if isinstance(choice, _PRIMITIVE) else repr(choice)
        if any(type(other) is type(label) and other == label for other in labels):
            label = f"{label} #{i}"
        labels.append(label)
    return labels


def stored(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> dict:
    """A configuration as Optuna stores it (choices by label; see `decoded`)."""
    return _relabel(space, params, to_label=True)


def decoded(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> dict:
    """A configuration read from Optuna (a trial's ``params``) with each choice's label
    turned back into the choice; values of other spaces stay as they are."""
    return _relabel(space, params, to_label=False)


def _relabel(space: Mapping[str, BaseDistribution], params: Mapping[str, Any], to_label: bool):
    out = dict(params)
    for name, value in params.items():
        dist = space.get(name)
        if not isinstance(dist, CategoricalDistribution):
            continue
        for choice, label in zip(dist.choices, _labels(dist)):
            source, target = (choice, label) if to_label else (label, choice)
            if type(source) is type(value) and source == value:
                out[name] = target
                break
    return out


def suggest(trial: Trial, space: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Sample one configuration from ``space`` through the trial's public API."""
    params = {}
    for name, dist in space.items():
        if isinstance(dist, CategoricalDistribution):
            label = trial.suggest_categorical(name, _labels(dist))
            params[name] = decoded(space, {name: label})[name]
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        elif isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                name, dist.low, dist.high, step=dist.step, log=dist.log
            )
        else:  # pragma: no cover - Optuna has no other public distribution
            raise TypeError(f"Unsupported distribution {dist!r} for {name!r}.")
    return params


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` lies in ``dist`` (used to filter warm-start configurations)."""
    if isinstance(dist, CategoricalDistribution):
        return any(value == c for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, Real):
        return False
    if isinstance(dist, IntDistribution) and value != int(value):
        return False
    return dist.low <= value <= dist.high


def encode(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> np.ndarray:
    """Map a configuration to [0, 1]^d (log scale where the range is), one-hot for choices.

    Missing parameters take the centre of their range; used for the nearest-configuration
    look-ups of the warm-start portfolio.
    """
    out: list[float] = []
    for name, dist in space.items():
        value = params.get(name)
        if isinstance(dist, CategoricalDistribution):
            out.extend(float(value == c) for c in dist.choices)
            continue
        low, high = float(dist.low), float(dist.high)
        if value is None or not contains(dist, value):
            out.append(0.5)
        elif dist.log:
            out.append((math.log(value) - math.log(low)) / (math.log(high) - math.log(low)))
        else:
            out.append((float(value) - low) / (high - low))
    return np.asarray(out, dtype=float)


def restrict(space: Mapping[str, BaseDistribution], params: Mapping[str, Any]) -> dict:
    """The part of a stored configuration (a trial's ``params``) that lies in ``space``,
    its choices decoded."""
    params = decoded(space, params)
    return {k: v for k, v in params.items() if k in space and contains(space[k], v)}
