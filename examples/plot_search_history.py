"""
Optuna search over tasks: history and importances
=================================================

`skmeta.search.MetaSearch` tunes a meta-learner for a distribution of tasks. Here a
Prototypical Network is tuned on 5-way 1-shot Omniglot episodes (images shrunk to
14x14 so that each trial takes a second or two): every trial meta-trains with the
sampled embedding size and learning rate and is scored by its mean accuracy on held-out
validation episodes. Optuna's Wilcoxon pruner compares a trial with the best one task by
task, and stops it as soon as it is clearly worse.

The plots come from `optuna.visualization.matplotlib`: the best score against the
number of trials, and each parameter's importance (fANOVA).
"""

import matplotlib.pyplot as plt
import optuna

from skmeta import ProtoNetClassifier
from skmeta.datasets import load_omniglot
from skmeta.search import MetaSearch
from skmeta.tasks import EpisodeSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


def shrink(X):
    """28x28 -> 14x14 by 2x2 average pooling, flattened for an MLP encoder."""
    return X.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(-1, 196)


X_train, y_train = load_omniglot(split="train")
X_val, y_val = load_omniglot(split="val")
train_tasks = EpisodeSampler(shrink(X_train), y_train, n_way=5, n_shot=1, random_state=0)
val_tasks = EpisodeSampler(shrink(X_val), y_val, n_way=5, n_shot=1, n_episodes=40, random_state=1)

search = MetaSearch(
    ProtoNetClassifier(n_meta_iterations=100, random_state=0),
    param_distributions={
        "embed_dim": (4, 128, "log"),  # shorthand for IntDistribution(4, 128, log=True)
        "meta_lr": (1e-5, 1e-1, "log"),
        "distance": ["euclidean", "cosine"],
    },
    n_trials=20,
    random_state=0,
)
search.fit(train_tasks, validation_tasks=val_tasks)

print(f"best: {search.best_params_}, {100 * search.best_score_:.1f}% on validation episodes")
print(f"pruned trials: {int(search.cv_results_['pruned'].sum())} of {search.n_trials_}")

# %%
# The search's results as a table, in the layout of GridSearchCV's ``cv_results_``.
import pandas as pd  # noqa: E402

table = pd.DataFrame(search.cv_results_)
columns = ["param_embed_dim", "param_meta_lr", "mean_test_score", "ci95_test_score"]
print(table.sort_values("rank_test_score")[columns + ["n_test_tasks", "pruned"]].head(8))

# %%
# Optimisation history and parameter importances.
search.plot_optimization_history()
plt.tight_layout()
search.plot_param_importances()
plt.tight_layout()
plt.show()
