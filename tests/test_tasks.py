"""Tasks, samplers and task-level splits."""

from itertools import islice

import numpy as np
import pytest

from skmeta.tasks import (
    EpisodeSampler,
    GroupedTasks,
    Task,
    iter_tasks,
    split_tasks,
    tasks_from_groups,
)


def test_task_validates_and_reports_shapes():
    task = Task(np.zeros((4, 2)), ["a", "b", "a", "b"], np.ones((6, 2)), ["a"] * 6, [1.0, 2.0])
    assert (task.n_support, task.n_query, task.n_way) == (4, 6, 2)
    assert task.descriptor.tolist() == [1.0, 2.0]
    assert "n_way=2" in repr(task)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X_support": np.zeros(3), "y_support": [0, 1, 2]}, "one row per example"),
        ({"X_support": np.zeros((3, 2)), "y_support": [0, 1]}, "3 rows"),
        ({"X_support": np.full((2, 2), np.nan), "y_support": [0, 1]}, "NaN"),
        (
            {"X_support": np.zeros((2, 2)), "y_support": [0, 1], "X_query": np.zeros((2, 3))},
            "share one input space",
        ),
        ({"X_support": np.zeros((2, 2)), "y_support": [0, 1], "descriptor": np.eye(2)}, "1-D"),
        ({"X_support": np.zeros((0, 2)), "y_support": []}, "empty"),
    ],
)
def test_task_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Task(**kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_pool_check_finds_one_non_finite_value_and_passes_overflowing_finite_ones(bad):
    # the check sums the pool first; a sum that overflows must not refuse finite values
    big = np.full((40, 2), np.finfo(np.float32).max / 4, dtype=np.float32)
    y = np.repeat([0, 1], 20)
    assert EpisodeSampler(big, y, n_way=2, n_shot=1, n_query=1).X is big
    with np.errstate(over="ignore"):
        assert np.isinf(big.sum())
    # one bad value among cancelling infinities or huge sums is still found
    for pool in (big.copy(), np.zeros((40, 2), dtype=np.float64)):
        pool[17, 1] = bad
        with pytest.raises(ValueError, match="NaN or infinity"):
            EpisodeSampler(pool, y, n_way=2, n_shot=1, n_query=1)
    with pytest.raises(ValueError, match="NaN or infinity"):
        EpisodeSampler(np.zeros((40, 2)), np.where(np.arange(40) == 3, bad, y), n_way=2)


def test_episode_sampler_draws_n_way_k_shot_with_relabelling():
    X = np.arange(200.0).reshape(100, 2)
    y = np.repeat(np.array(["a", "b", "c", "d", "e"]), 20)
    sampler = EpisodeSampler(X, y, n_way=3, n_shot=2, n_query=4, n_episodes=50, random_state=0)
    assert len(sampler) == 50
    seen_orders = set()
    for task in sampler:
        assert task.X_support.shape == (6, 2) and task.X_query.shape == (12, 2)
        assert np.bincount(task.y_support).tolist() == [2, 2, 2]
        assert np.bincount(task.y_query).tolist() == [4, 4, 4]
        # the original labels come back through task.classes, row by row
        assert np.array_equal(
            task.classes[task.y_support], y[(task.X_support[:, 0] // 2).astype(int)]
        )
        support_rows = set(task.X_support[:, 0].tolist())
        assert support_rows.isdisjoint(task.X_query[:, 0].tolist())
        seen_orders.add(tuple(task.classes))
    assert len(seen_orders) > 10  # classes and their relabelling vary across episodes


def test_episode_sampler_is_reproducible_and_endless():
    X, y = np.random.default_rng(0).normal(size=(60, 3)), np.repeat(np.arange(6), 10)
    a = EpisodeSampler(X, y, n_way=2, n_shot=1, n_query=2, random_state=3)
    first = [t.X_support for t in islice(a, 5)]
    again = [t.X_support for t in islice(a, 5)]
    assert all(np.array_equal(u, v) for u, v in zip(first, again))
    other = [t.X_support for t in islice(EpisodeSampler(X, y, 2, 1, 2, random_state=4), 5)]
    assert not all(np.array_equal(u, v) for u, v in zip(first, other))
    assert len(list(islice(a, 1000))) == 1000
    with pytest.raises(TypeError, match="endless"):
        len(a)


def test_episode_sampler_errors_name_the_problem():
    X, y = np.zeros((12, 2)), np.repeat([0, 1, 2], 4)
    with pytest.raises(ValueError, match="n_way=4 but the pool has only 3 classes"):
        EpisodeSampler(X, y, n_way=4)
    with pytest.raises(ValueError, match=r"n_shot \+ n_query = 1 \+ 15 = 16"):
        EpisodeSampler(X, y, n_way=2, n_shot=1, n_query=15)
    with pytest.raises(ValueError, match="n_shot must be an integer >= 1"):
        EpisodeSampler(X, y, n_way=2, n_shot=0)


def test_tasks_from_groups_splits_each_group_stratified():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 3))
    y = np.tile(np.repeat([0, 1, 2], 5), 6)
    groups = np.repeat(np.arange(6), 15)
    tasks = tasks_from_groups(X, y, groups, n_support=2, random_state=0)
    assert len(tasks) == 6
    for t in tasks:
        assert np.bincount(t.y_support).tolist() == [2, 2, 2]
        assert t.n_query == 9
    again = tasks_from_groups(X, y, groups, n_support=2, random_state=0)
    assert all(np.array_equal(a.X_support, b.X_support) for a, b in zip(tasks, again))


def test_grouped_tasks_resplit_on_every_pass_and_carry_descriptors():
    X, y = np.arange(40.0).reshape(20, 2), np.linspace(0, 1, 20)
    groups = np.repeat(["u", "v"], 10)
    stream = GroupedTasks(
        X, y, groups, 0.3, descriptors={"u": [0.0], "v": [1.0]}, n_passes=None, random_state=0
    )
    tasks = list(islice(stream, 6))
    assert [t.descriptor[0] for t in tasks] == [0.0, 1.0] * 3
    assert tasks[0].n_support == 3
    assert not np.array_equal(tasks[0].X_support, tasks[2].X_support)
    with pytest.raises(ValueError, match="one row per group"):
        GroupedTasks(X, y, groups, descriptors=np.zeros((3, 1)))


def test_tasks_from_groups_reports_too_small_groups():
    X, y, groups = np.zeros((6, 2)), [0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="class 0 has 2 examples"):
        tasks_from_groups(X, y, groups, n_support=2)
    with pytest.raises(ValueError, match="groups has 2 entries"):
        tasks_from_groups(X, y, groups[:2])


def test_split_tasks_never_leaks_a_task():
    X = np.arange(200.0).reshape(100, 2)
    y = np.repeat(np.arange(20), 5)
    X_tr, X_te, y_tr, y_te = split_tasks(X, y, groups=y, test_size=0.25, random_state=0)
    assert set(y_tr).isdisjoint(y_te)
    assert len(set(y_te)) == 5 and len(y_tr) + len(y_te) == 100
    tasks = [Task(np.zeros((1, 2)), [i]) for i in range(8)]
    train, test = split_tasks(tasks, test_size=2, random_state=0)
    assert len(train) == 6 and len(test) == 2
    assert {id(t) for t in train}.isdisjoint(id(t) for t in test)


def test_iter_tasks_accepts_every_form():
    pairs = [(np.zeros((6, 2)), [0, 0, 0, 1, 1, 1]), (np.ones((4, 2)), [0.1, 0.2, 0.3, 0.4])]
    out = list(islice(iter_tasks(pairs, n_shot=2), 4))
    assert [t.n_support for t in out] == [4, 2, 4, 2]
    generator = (t for t in out[:2])
    assert len(list(iter_tasks(generator))) == 2  # a one-shot iterator is read once
    with pytest.raises(TypeError, match="single Task"):
        next(iter_tasks(out[0]))
    with pytest.raises(TypeError, match="expected a skmeta.tasks.Task or an"):
        next(iter_tasks([42]))
    with pytest.raises(ValueError, match="empty"):
        next(iter_tasks([]))


def test_a_random_state_instance_draws_anew_on_every_iteration():
    # sklearn's convention: an int repeats, a RandomState instance moves on.
    X, y = np.arange(120.0).reshape(60, 2), np.repeat(np.arange(12), 5)  # rows differ
    for make in (
        lambda rs: EpisodeSampler(X, y, n_way=3, n_shot=1, n_query=2, random_state=rs),
        lambda rs: GroupedTasks(X, y, y // 3, random_state=rs),
    ):
        fixed, moving = make(0), make(np.random.RandomState(0))
        first, again = list(islice(fixed, 4)), list(islice(fixed, 4))
        assert all(np.array_equal(a.X_support, b.X_support) for a, b in zip(first, again))
        first, again = list(islice(moving, 4)), list(islice(moving, 4))
        assert any(not np.array_equal(a.X_support, b.X_support) for a, b in zip(first, again))


def test_split_tasks_keeps_dataframes_as_train_test_split_does():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(np.arange(24.0).reshape(12, 2), columns=["a", "b"])
    y = pd.Series(np.repeat([0, 1, 2, 3], 3), name="label")
    X_tr, X_te, y_tr, y_te = split_tasks(X, y, groups=y, test_size=0.5, random_state=0)
    assert isinstance(X_tr, pd.DataFrame) and list(X_tr.columns) == ["a", "b"]
    assert isinstance(y_te, pd.Series) and y_te.name == "label"
    assert (X_tr.index == y_tr.index).all() and not set(y_tr) & set(y_te)
