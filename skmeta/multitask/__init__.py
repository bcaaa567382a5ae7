"""Multi-task learning: one network shared across tasks, conditioned on the task.

`MultiTaskRegressor` and `MultiTaskClassifier` train jointly on many tasks, with the task
descriptor z_i entering the network by concatenation, an additive bias, multiplicative
gating or a head per task; task weighting strategies (`EqualWeights`, `FixedWeights`,
`UncertaintyWeights`, `PCGrad`) combine the tasks' losses; `transfer_report` compares
each task's score against the independent and fully shared baselines, flagging negative
transfer.
"""

from ._conditioning import MultiTaskNetwork
from ._estimators import MultiTaskClassifier, MultiTaskRegressor
from ._report import plot_transfer_report, transfer_report
from ._synthetic import make_task_family
from ._weighting import EqualWeights, FixedWeights, PCGrad, TaskWeighting, UncertaintyWeights

__all__ = [
    "EqualWeights",
    "FixedWeights",
    "MultiTaskClassifier",
    "MultiTaskNetwork",
    "MultiTaskRegressor",
    "PCGrad",
    "TaskWeighting",
    "UncertaintyWeights",
    "make_task_family",
    "plot_transfer_report",
    "transfer_report",
]
