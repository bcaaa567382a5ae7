"""
Sinusoid regression: adaptation before and after meta-training
==============================================================

The toy problem of the MAML paper (Finn, Abbeel & Levine, 2017): every task is a sine
wave ``a sin(x - b)`` with its own amplitude ``a`` in [0.1, 5] and phase ``b`` in [0, π],
seen through 10 points. One small network (1-40-40-1) must fit a new wave from those 10
points with a few gradient steps.

From a random initialisation, a few steps barely move the network. After meta-training,
`MAMLRegressor` starts from an initialisation that fits no wave in particular (the
dashed curve) but from which **one** gradient step on the 10 support points recovers the
whole wave, including the stretches where no support point lies.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch

from skmeta import MAMLRegressor
from skmeta.datasets import SinusoidTasks
from skmeta.evaluation import evaluate

torch.set_num_threads(1)
train = SinusoidTasks(n_support=10, n_query=10, random_state=0)
test = SinusoidTasks(n_support=10, n_query=100, n_tasks=200, random_state=1)

random_init = MAMLRegressor(random_state=0)
maml = MAMLRegressor(n_meta_iterations=2000, random_state=0).meta_fit(train)

# %%
# Mean squared error on 200 new waves, after one gradient step on 10 points, with the
# 95% confidence interval over tasks.
print("one step from a random initialisation:", evaluate(random_init, test, n_tasks=None))
print("one step from the MAML initialisation:", evaluate(maml, test, n_tasks=None))

# %%
# One new wave, adapted with 0, 1 and 10 gradient steps from each initialisation.
task = test.sample(1)[0]
grid = np.linspace(-5, 5, 200).reshape(-1, 1)
truth = SinusoidTasks.true_function(task.descriptor, grid[:, 0])

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, est, title in [(axes[0], random_init, "random initialisation"), (axes[1], maml, "MAML")]:
    ax.plot(grid, truth, "k", lw=2, label="true wave")
    for steps, style in [(0, "--"), (1, "-"), (10, ":")]:
        pred = est.set_params(n_adapt_steps=steps).fit(task.X_support, task.y_support)
        ax.plot(grid, pred.predict(grid), style, label=f"{steps} gradient steps")
    ax.scatter(task.X_support, task.y_support, c="k", zorder=3, label="10 support points")
    ax.set_title(title)
    ax.set_xlabel("x")
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
