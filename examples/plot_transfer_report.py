"""
Negative transfer, school by school: a multi-task transfer report
=================================================================

The School data (shipped with skmeta) holds exam scores of 15,362 pupils in 139 London
schools. One network trained on all schools, conditioned on the school
(`MultiTaskRegressor`), lets small schools borrow strength from large ones, but sharing
can also hurt: a school that does worse in the joint model than with a model of its own
suffers **negative transfer**.

`transfer_report` trains three versions of the estimator on 75% of each school's pupils
(as given, one network per school, and one network for all schools) and scores each on
the other 25%. In the figure, each point is a school: the joint model's R² against that
of the school's own model. Points below the diagonal (red) are schools with negative
transfer; grey crosses show the fully shared network. About a minute on one CPU core.
"""

import matplotlib.pyplot as plt
import torch
from sklearn.preprocessing import StandardScaler

from skmeta.datasets import load_school
from skmeta.multitask import MultiTaskRegressor, plot_transfer_report, transfer_report
from skmeta.tasks import tasks_from_groups

torch.set_num_threads(1)  # small networks train fastest on one thread
X, y, school = load_school()
X = StandardScaler().fit_transform(X)
tasks = tasks_from_groups(X, y, school, n_support=0.75, random_state=0)

est = MultiTaskRegressor(
    conditioning="additive",
    hidden_layer_sizes=(32,),
    batch_size=128,
    early_stopping=True,
    n_iter_no_change=5,
    random_state=0,
)
report = transfer_report(est, tasks)

# %%
# One row per school: its training and test sizes, the three R² scores, the gain of the
# joint model over the school's own model, and whether that gain is negative.
print(report.sort_values("gain").head(8).round(3))
print(
    "mean R²:",
    {name: round(score, 3) for name, score in report.attrs["mean"].items()},
    f"; {report.attrs['n_negative_transfer']} of {len(report)} schools with negative transfer",
)

# %%
ax = plot_transfer_report(report)
ax.set_title("School: additive conditioning against one network per school")
plt.show()
