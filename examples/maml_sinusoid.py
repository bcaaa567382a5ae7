"""
MAML and a black-box regressor on sinusoids
===========================================

MAML on sinusoids: one gradient step from a meta-learned initialisation fits a new wave.

Meta-trains `MAMLRegressor` (the 1-40-40-1 network of Finn et al., 2017) on random
sinusoids, then adapts to a new one from 10 points with a single gradient step, next to
the same network adapted from a random initialisation and `BlackBoxRegressor`, which adapts
by a forward pass and also gives a standard deviation. About a minute on 2 CPU cores;
saves ``maml_sinusoid.png`` when matplotlib is installed.
"""

import numpy as np

from skmeta import BlackBoxRegressor, MAMLRegressor
from skmeta.datasets import SinusoidTasks
from skmeta.evaluation import evaluate

train = SinusoidTasks(n_support=10, n_query=10, random_state=0)
test = SinusoidTasks(n_support=10, n_query=100, n_tasks=200, random_state=1)

maml = MAMLRegressor(n_meta_iterations=3000, random_state=0, verbose=1).meta_fit(train)
cnp = BlackBoxRegressor(n_meta_iterations=1000, meta_lr=3e-3, random_state=0).meta_fit(train)
print(
    "MSE on 200 new sinusoids after one step from a random init:",
    evaluate(MAMLRegressor(random_state=0), test, n_tasks=None),
)
print("MSE after one step from the MAML initialisation:          ", evaluate(maml, test, None))
print("MSE of the black-box (CNP) regressor, no gradient step:    ", evaluate(cnp, test, None))

task = test.sample(1)[0]
grid = np.linspace(-5, 5, 200).reshape(-1, 1)
truth = SinusoidTasks.true_function(task.descriptor, grid[:, 0])
before = maml.set_params(n_adapt_steps=0).fit(task.X_support, task.y_support).predict(grid)
after = maml.set_params(n_adapt_steps=1).fit(task.X_support, task.y_support).predict(grid)
mean, std = cnp.fit(task.X_support, task.y_support).predict(grid, return_std=True)

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("matplotlib is not installed: no plot")
else:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(grid, truth, "k", label="true function")
    ax.plot(grid, before, "--", label="MAML initialisation (0 steps)")
    ax.plot(grid, after, label="MAML after 1 step")
    ax.plot(grid, mean, label="black-box mean")
    ax.fill_between(grid[:, 0], mean - 2 * std, mean + 2 * std, alpha=0.2, label="black-box ±2σ")
    ax.scatter(task.X_support, task.y_support, c="k", zorder=3, label="10 support points")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("maml_sinusoid.png", dpi=100)
    print("saved maml_sinusoid.png")
