"""
Quickstart: ProtoNet on Omniglot
================================

Quickstart: meta-train a Prototypical Network on Omniglot and adapt it to new characters.

Runs offline in about a minute on 2 CPU cores, on the Omniglot copy embedded in skmeta.
"""

from skmeta import ProtoNetClassifier
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate
from skmeta.tasks import EpisodeSampler

X_train, y_train = load_omniglot(split="train")  # 4112 classes (characters x rotations)
X_test, y_test = load_omniglot(split="test")  # 1692 classes never seen in meta-training
test_tasks = EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=15, random_state=0)

clf = ProtoNetClassifier(backbone="conv4", n_meta_iterations=300, random_state=0, verbose=1)
print("untrained, 5-way 1-shot:", evaluate(clf, test_tasks, n_tasks=100))
clf.meta_fit(X_train, y_train)  # learn the prior from 300 episodes
print("meta-trained, 5-way 1-shot:", evaluate(clf, test_tasks, n_tasks=100))

task = next(iter(test_tasks))  # one new task: 5 characters, one example each
clf.fit(task.X_support, task.y_support)  # adapt: a forward pass over 5 images
print("query accuracy on this task:", clf.score(task.X_query, task.y_query))
