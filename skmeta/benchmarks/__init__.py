"""Time-budgeted benchmarks with a JSON record and a plot: ``python -m skmeta.benchmarks``.

Run from a checkout, for example::

    python -m skmeta.benchmarks omniglot --estimator protonet --n-way 5 --n-shot 1 \\
        --budget-minutes 10 --plot protonet.png
    python -m skmeta.benchmarks sinusoid --estimator maml --n-shot 10 --budget-minutes 5
    python -m skmeta.benchmarks school --estimator additive

Each run meta-trains for a wall-clock budget (with a progress bar), scores the model on
unseen tasks with the mean and its 95% confidence interval, and writes a JSON record of
the configuration, the versions of python, torch, scikit-learn and skmeta, the machine,
the wall time and the results to ``--output`` (default ``benchmarks/results/<name>.json``).
The helpers below are what the runner and the scripts in ``benchmarks/`` share.
"""

from ._budget import meta_fit_segments, meta_fit_within
from ._cli import main
from ._record import cpu_model, environment, reference_step_ms, write_record
from ._school import explained_variance, independent_ridge, split_within_tasks

__all__ = [
    "cpu_model",
    "environment",
    "explained_variance",
    "independent_ridge",
    "main",
    "meta_fit_segments",
    "meta_fit_within",
    "reference_step_ms",
    "split_within_tasks",
    "write_record",
]
