"""
Fine-tuning baseline against ProtoNet on Omniglot
=================================================

Is meta-learning worth it? Compare the fine-tuning baseline with ProtoNet on Omniglot.

`FineTuneClassifier` pretrains a Conv-4 to classify training characters (ordinary
supervised learning), then fits a new linear head on each test task's support set.
`ProtoNetClassifier` meta-trains the same Conv-4 on 5-way episodes. Both take 300 steps;
both are scored on 5-way 1-shot and 5-shot tasks of unseen characters, against the
untrained network with a head fitted on the support set.

A short pretraining learns more from a few hundred classes with many steps per class than
from all 4112 classes at once (a 4112-way head needs thousands of steps: see
benchmarks/finetune_omniglot.py), so the example pretrains on every 20th class.

Runs offline in about two minutes on 2 CPU cores, on the Omniglot copy embedded in skmeta.
"""

import numpy as np

from skmeta import FineTuneClassifier, ProtoNetClassifier
from skmeta.datasets import load_omniglot
from skmeta.evaluation import evaluate
from skmeta.tasks import EpisodeSampler

X_train, y_train = load_omniglot(split="train")
X_test, y_test = load_omniglot(split="test")  # characters never seen in training
subset = np.isin(y_train, np.unique(y_train)[::20])  # 206 classes


def report(name, model):
    scores = []
    for n_shot in (1, 5):
        tasks = EpisodeSampler(X_test, y_test, n_way=5, n_shot=n_shot, n_query=15, random_state=0)
        scores.append(str(evaluate(model, tasks, n_tasks=50)).split(" (")[0])
    print(f"{name:28s} {scores[0]:>16s} {scores[1]:>16s}")


print(f"{'':28s} {'5-way 1-shot':>16s} {'5-way 5-shot':>16s}")
finetune = FineTuneClassifier(backbone="conv4", n_meta_iterations=300, random_state=0)
report("untrained Conv-4 + new head", finetune)
report("fine-tuning (pretrained)", finetune.meta_fit(X_train[subset], y_train[subset]))
protonet = ProtoNetClassifier(backbone="conv4", n_meta_iterations=300, random_state=0)
report("ProtoNet (meta-trained)", protonet.meta_fit(X_train, y_train))
