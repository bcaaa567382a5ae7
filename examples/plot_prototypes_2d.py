"""
ProtoNet prototypes in 2-D, before and after meta-training
==========================================================

A Prototypical Network embeds every image with a Conv-4 and classifies a query by its
nearest class mean (*prototype*) in that embedding. With random weights the embedding
mixes the classes; meta-training on Omniglot episodes of *other* characters teaches it to
cluster images of the same character, which is what lets one example per class suffice.

Here one 5-way 5-shot episode of test characters is embedded by the same estimator before
and after 150 meta-training episodes (about a minute on one CPU core), and the
embeddings are projected to 2-D with PCA. Stars are the prototypes, the means of the five
support embeddings of each class; dots are queries, coloured by their true class.
"""

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.decomposition import PCA

from skmeta import ProtoNetClassifier
from skmeta.datasets import load_omniglot
from skmeta.tasks import EpisodeSampler

torch.set_num_threads(1)
X_train, y_train = load_omniglot(split="train")
X_test, y_test = load_omniglot(split="test")
task = next(iter(EpisodeSampler(X_test, y_test, n_way=5, n_shot=5, n_query=15, random_state=3)))

clf = ProtoNetClassifier(backbone="conv4", n_shot=5, n_meta_iterations=150, random_state=0)


def embed(clf, task):
    """Embeddings of the episode's support and query images.

    With one image per label, ``fit`` makes each image its own prototype, so
    ``prototypes_`` are the embeddings themselves.
    """
    X = np.concatenate([task.X_support, task.X_query])
    z = clf.fit(X, np.arange(len(X))).prototypes_
    return z[: len(task.X_support)], z[len(task.X_support) :]


def draw(ax, clf, title):
    z_support, z_query = embed(clf, task)
    accuracy = clf.fit(task.X_support, task.y_support).score(task.X_query, task.y_query)
    pca = PCA(n_components=2).fit(np.concatenate([z_support, z_query]))
    query_2d = pca.transform(z_query)
    prototypes = np.stack([z_support[task.y_support == c].mean(0) for c in range(5)])
    prototypes_2d = pca.transform(prototypes)
    colours = plt.cm.tab10(np.arange(5))
    ax.scatter(*query_2d.T, c=colours[task.y_query], s=15, alpha=0.7)
    ax.scatter(*prototypes_2d.T, c=colours, marker="*", s=300, edgecolors="k")
    ax.set_title(f"{title}\nquery accuracy {accuracy:.0%}")
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(1, 2, figsize=(9, 4.5))
draw(axes[0], clf, "random Conv-4 (no meta_fit)")
clf.meta_fit(X_train, y_train)
draw(axes[1], clf, "after meta_fit on 150 episodes")
fig.tight_layout()
plt.show()
