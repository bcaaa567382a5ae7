"""Meta-training for a wall-clock budget, in segments that resume from a checkpoint."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm


def meta_fit_segments(
    estimator: Any,
    *meta_fit_args: Any,
    budget_seconds: float,
    segment: int = 50,
    progress: bool = True,
    **meta_fit_kwargs: Any,
) -> Iterator[tuple[int, float]]:
    """Meta-train ``estimator`` until ``budget_seconds`` of training time have passed.

    ``meta_fit`` runs in segments of ``segment`` meta-updates; each segment raises
    ``n_meta_iterations`` and resumes from a checkpoint file, so the run is the one
    uninterrupted ``meta_fit`` of the final number of meta-updates would give (same
    tasks, same random numbers). After each segment the estimator is a complete
    meta-trained model: the generator yields ``(meta_updates, training_seconds)`` so
    that the caller can score it at chosen times (time-to-accuracy curves); the time
    spent by the caller is not counted. The last segment may overrun the budget by up
    to one segment.

    Parameters
    ----------
    estimator : skmeta meta-estimator
        Trained in place; its ``n_meta_iterations`` is overwritten.
    *meta_fit_args
        Passed to ``meta_fit`` (the tasks, or ``X, y``).
    budget_seconds : float
        Training time after which no new segment starts. At least one segment runs.
    segment : int, default=50
        Meta-updates between checks of the clock. With ``validation_tasks``, rounded up
        to a multiple of the estimator's ``validation_interval``, so that each segment
        ends on a validation (``meta_fit`` also validates at its last meta-update).
    progress : bool, default=True
        Show a tqdm progress bar over the budget.
    **meta_fit_kwargs
        Passed to ``meta_fit`` (e.g. ``validation_tasks``).

    Yields
    ------
    meta_updates : int
        Meta-updates done so far.
    training_seconds : float
        Wall-clock time spent in ``meta_fit`` so far.

    Examples
    --------
    >>> from skmeta import MAMLRegressor
    >>> from skmeta.benchmarks import meta_fit_segments
    >>> from skmeta.datasets import SinusoidTasks
    >>> est = MAMLRegressor(random_state=0)
    >>> tasks = SinusoidTasks(random_state=0)
    >>> for done, seconds in meta_fit_segments(est, tasks, budget_seconds=0.0, segment=5,
    ...                                        progress=False):
    ...     print(done, est.n_meta_iter_)
    5 5
    """
    interval = getattr(estimator, "validation_interval", None)
    if meta_fit_kwargs.get("validation_tasks") is not None and interval:
        # meta_fit validates every `validation_interval` meta-updates and at its last one;
        # segments that end between validations would add one validation each.
        segment = -(-segment // interval) * interval
    done, seconds = 0, 0.0
    bar = tqdm(
        total=round(budget_seconds),
        unit="s",
        disable=not progress,
        desc=f"meta_fit {type(estimator).__name__}",
        bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s{postfix}",
    )
    with tempfile.TemporaryDirectory() as tmp, bar:
        checkpoint = Path(tmp) / "meta_fit.ckpt"
        while done == 0 or seconds < budget_seconds:
            done += segment
            tic = time.perf_counter()
            estimator.set_params(n_meta_iterations=done).meta_fit(
                *meta_fit_args,
                checkpoint=checkpoint,
                checkpoint_interval=segment,
                **meta_fit_kwargs,
            )
            elapsed = time.perf_counter() - tic
            seconds += elapsed
            bar.update(min(elapsed, max(bar.total - bar.n, 0)))
            last = estimator.meta_history_[-1]
            bar.set_postfix_str(f"{done} meta-updates, loss {last['loss']:.4g}")
            yield done, seconds
            if estimator.n_meta_iter_ < done:  # early stopping (patience) ended the run
                return


def meta_fit_within(
    estimator: Any, *meta_fit_args: Any, budget_seconds: float, **kwargs: Any
) -> tuple[int, float]:
    """Meta-train ``estimator`` for a wall-clock budget; return (meta-updates, seconds).

    The whole run of `meta_fit_segments`, for callers that score the model only at the
    end.

    Examples
    --------
    >>> from skmeta import MAMLRegressor
    >>> from skmeta.benchmarks import meta_fit_within
    >>> from skmeta.datasets import SinusoidTasks
    >>> est = MAMLRegressor(random_state=0)
    >>> done, seconds = meta_fit_within(est, SinusoidTasks(random_state=0),
    ...                                 budget_seconds=0.0, segment=5, progress=False)
    >>> done
    5
    """
    *_, last = meta_fit_segments(estimator, *meta_fit_args, budget_seconds=budget_seconds, **kwargs)
    return last
