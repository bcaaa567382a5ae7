"""Tasks and episodes: the data that meta-learners learn from.

A `Task` is one supervised problem with a support set (to adapt on) and a query set (to
evaluate on). Samplers draw tasks from data: `EpisodeSampler` draws N-way K-shot episodes
from a labelled pool, `GroupedTasks` / `tasks_from_groups` turn rows grouped by task into
tasks, and `split_tasks` splits data by task so that no task leaks across meta-train,
meta-validation and meta-test.
"""

from ._sampler import EpisodeSampler
from ._split import GroupedTasks, iter_tasks, split_tasks, tasks_from_groups
from ._task import Task

__all__ = [
    "EpisodeSampler",
    "GroupedTasks",
    "Task",
    "iter_tasks",
    "split_tasks",
    "tasks_from_groups",
]
