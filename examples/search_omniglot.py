"""
Hyper-parameter search over tasks with Optuna
=============================================

Choose ProtoNet's embedding size and meta-learning rate for a *distribution* of Omniglot
tasks: each of 30 trials meta-trains a ProtoNet and scores it by its mean accuracy over
5-way 1-shot validation episodes drawn from characters it never saw, while Optuna's
Wilcoxon pruner stops hopeless trials after a few episodes. The study is kept in
``search.db`` (SQLite): rerun the script and it resumes, and ``optuna-dashboard
sqlite:///search.db`` shows it live.

About 5 minutes on 2 CPU cores (the embedded 28x28 Omniglot, ProtoNet's defaults).
"""

import optuna

from skmeta import ProtoNetClassifier
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate
from skmeta.search import MetaSearch
from skmeta.tasks import EpisodeSampler

X_train, y_train = load_omniglot(split="train")
X_val, y_val = load_omniglot(split="val")
X_test, y_test = load_omniglot(split="test")
train_tasks = EpisodeSampler(X_train, y_train, n_way=5, n_shot=1, n_query=15, random_state=0)
val_tasks = EpisodeSampler(
    X_val, y_val, n_way=5, n_shot=1, n_query=15, n_episodes=50, random_state=1
)  # fixed episodes: every trial is scored on them

search = MetaSearch(
    ProtoNetClassifier(),
    param_distributions={
        "embed_dim": optuna.distributions.IntDistribution(16, 128, log=True),
        "meta_lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
    },
    n_trials=30,
    storage="sqlite:///search.db",
    study_name="omniglot-5w1s",
    random_state=0,
)
# each trial: meta_fit, then mean episodic score
search.fit(train_tasks, validation_tasks=val_tasks)
best_params, best_estimator, study = search.best_params_, search.best_estimator_, search.study_

print(f"best parameters: {best_params} (trial {search.best_trial_.number} of {study.study_name!r})")
print(f"best mean validation accuracy: {100 * search.best_score_:.2f}%")
n_pruned = int(search.cv_results_["pruned"].sum())
print(f"{search.n_trials_} trials, {n_pruned} stopped early by the Wilcoxon pruner")

test_tasks = EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=15, random_state=2)
print("test accuracy of the refitted best:", evaluate(best_estimator, test_tasks))
