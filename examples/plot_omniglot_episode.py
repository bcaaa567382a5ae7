"""
An Omniglot episode: support and query images
=============================================

A 5-way 1-shot task, the unit of few-shot classification: five characters never seen in
meta-training, **one** labelled image of each (the support set, top row), and more images
of the same characters to classify (the query set, below). The sampler relabels the five
characters 0..4 in a random order for every episode; ``task.classes`` keeps their labels
in the data set. Omniglot ships inside skmeta at 28x28, so this runs offline in seconds.
"""

import matplotlib.pyplot as plt

from skmeta.datasets import load_omniglot
from skmeta.tasks import EpisodeSampler

X_test, y_test = load_omniglot(split="test")
episodes = EpisodeSampler(X_test, y_test, n_way=5, n_shot=1, n_query=3, random_state=0)
task = next(iter(episodes))
print(f"support set: {task.X_support.shape}, query set: {task.X_query.shape}")
print(f"episode labels 0..4 stand for the data set's classes {[int(c) for c in task.classes]}")

# %%
# One column per class: the single support image on top, its three queries below.
fig, axes = plt.subplots(4, 5, figsize=(6, 5))
for label in range(5):
    column = [task.X_support[task.y_support == label][0], *task.X_query[task.y_query == label]]
    for row, image in enumerate(column):
        ax = axes[row, label]
        ax.imshow(image, cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        if row == 0:
            ax.set_title(f"class {label}")
axes[0, 0].set_ylabel("support")
for row in range(1, 4):
    axes[row, 0].set_ylabel(f"query {row}")
fig.suptitle("Omniglot 5-way 1-shot episode (test characters)")
fig.tight_layout()
plt.show()
