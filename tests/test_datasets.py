"""Tests of skmeta.datasets: the embedded data, the full-data path and its cache, and the
sinusoid task family."""

from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from skmeta.datasets import SinusoidTasks, _omniglot, get_data_home, load_omniglot, load_school
from skmeta.tasks import Task

REPO = Path(__file__).resolve().parents[1]
# Read before the autouse fixture below clears SKMETA_DATA for every test.
SHARED_DATA = Path(os.environ.get("SKMETA_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """Each test starts from the embedded data and a private, empty cache folder."""
    monkeypatch.delenv("SKMETA_DATA", raising=False)
    monkeypatch.setenv("SKMETA_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def shared_data() -> Path:
    if not (SHARED_DATA / "omniglot" / "omniglot.npz").is_file():
        pytest.skip(f"full data not found at {SHARED_DATA} (set SKMETA_DATA to run this test)")
    return SHARED_DATA


@pytest.fixture
def tiny_data_home(tmp_path) -> Path:
    """A data folder with a 3-character Omniglot of random 105x105 strokes and no split
    files: what a user's own partial copy looks like."""
    rng = np.random.default_rng(0)
    n_chars, n_drawers = 3, 20
    home = tmp_path / "data"
    (home / "omniglot").mkdir(parents=True)
    np.savez(
        home / "omniglot" / "omniglot.npz",
        images=(rng.random((n_chars * n_drawers, 105, 105)) < 0.1).astype(np.uint8),
        alphabet=np.repeat(["Latin", "Latin", "Greek"], n_drawers),
        character=np.repeat(np.arange(n_chars, dtype=np.int16), n_drawers),
        drawer=np.tile(np.arange(1, n_drawers + 1, dtype=np.int8), n_chars),
        split=np.repeat(["background", "background", "evaluation"], n_drawers),
        char_in_alphabet=np.repeat(np.array([1, 2, 1], dtype=np.int8), n_drawers),
    )
    return home


# --------------------------------------------------------------------------- Omniglot


@pytest.mark.parametrize(
    "split, n_classes",
    [
        ("train", 4112),
        ("val", 688),
        ("trainval", 4800),
        ("test", 1692),
        ("background", 964),
        ("evaluation", 659),
        ("all", 1623),
    ],
)
def test_omniglot_splits_have_the_published_sizes(split, n_classes):
    X, y = load_omniglot(split)
    assert X.shape == (20 * n_classes, 28, 28)
    assert X.dtype == np.float32 and y.dtype == np.int64
    assert 0.0 <= X.min() and X.max() == 1.0
    assert 0.02 < X.mean() < 0.2  # mostly background (0), some ink (1)
    # classes 0..n-1, 20 images each, each class's rows contiguous and in class order
    np.testing.assert_array_equal(y, np.repeat(np.arange(n_classes), 20))


def test_omniglot_splits_share_no_character():
    characters = {
        split: set(load_omniglot(split, return_X_y=False).character)
        for split in ("train", "val", "trainval", "test", "background", "evaluation")
    }
    assert not characters["train"] & characters["val"]
    assert not characters["train"] & characters["test"]
    assert not characters["val"] & characters["test"]
    assert characters["trainval"] == characters["train"] | characters["val"]
    assert len(characters["train"] | characters["val"] | characters["test"]) == 1623
    assert not characters["background"] & characters["evaluation"]


def test_omniglot_rotated_classes_are_rotated_counter_clockwise():
    data = load_omniglot("val", return_X_y=False)
    names = list(data.target_names)
    base = names[0]
    assert base.endswith("/rot000")
    upright = data.data[data.target == 0]
    for degrees in (90, 180, 270):
        label = names.index(base.replace("rot000", f"rot{degrees:03d}"))
        rotated = data.data[data.target == label]
        np.testing.assert_array_equal(rotated, np.rot90(upright, degrees // 90, axes=(1, 2)))
        assert np.all(data.rotation[data.target == label] == degrees)
    assert not np.array_equal(np.rot90(upright, 1, axes=(1, 2)), upright)


def test_omniglot_bunch_describes_every_row():
    data = load_omniglot("background", return_X_y=False)
    n = data.data.shape[0]
    assert data.target_names.shape == (964,)
    assert all(re.fullmatch(r"[^/]+/character\d\d", name) for name in data.target_names)
    assert data.alphabet.shape == data.drawer.shape == data.rotation.shape == (n,)
    assert set(data.drawer) == set(range(1, 21)) and not data.rotation.any()
    assert len(set(data.alphabet)) == 30
    assert str(data.target_names[0]).startswith(str(data.alphabet[0]))
    assert "MIT" in data.DESCR and "Lake" in data.DESCR

    train = load_omniglot("train", return_X_y=False)
    assert str(train.target_names[1]) == "Angelic/character01/rot090"
    assert sorted(set(train.rotation)) == [0, 90, 180, 270]


def test_omniglot_dtype():
    X, _ = load_omniglot("evaluation", dtype=np.float64)
    assert X.dtype == np.float64
    np.testing.assert_array_equal(X * 255, np.round(X * 255))  # 8-bit levels
    with pytest.raises(ValueError, match="floating"):
        load_omniglot("evaluation", dtype=np.uint8)


def test_omniglot_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match=r"Unknown Omniglot split 'training'.*'train'.*'all'"):
        load_omniglot("training")
    for size in (7, 106, 28.0, True, "28"):
        with pytest.raises(ValueError, match=r"image_size must be an int in \[8, 105\]"):
            load_omniglot(image_size=size)


def test_omniglot_28_needs_no_data_folder(tmp_path):
    X, y = load_omniglot("test")
    X_fallback, y_fallback = load_omniglot("test", data_home=tmp_path)  # empty folder
    np.testing.assert_array_equal(X, X_fallback)
    np.testing.assert_array_equal(y, y_fallback)
    assert not (tmp_path / "cache").exists()  # nothing resized, nothing cached
    assert not any(p.name != "cache" for p in tmp_path.iterdir())  # nor written there


def test_omniglot_missing_data_error_says_where_it_looked(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError) as error:
        load_omniglot(image_size=20, data_home=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "omniglot" / "omniglot.npz") in message
    assert "data_home" in message and "SKMETA_DATA" in message and "28" in message

    monkeypatch.setenv("SKMETA_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(FileNotFoundError, match=r"(?s)elsewhere.*\$SKMETA_DATA"):
        load_omniglot(image_size=20)


def test_omniglot_other_sizes_are_resized_once_then_cached(tiny_data_home, tmp_path, monkeypatch):
    X, y = load_omniglot("all", image_size=20, data_home=tiny_data_home)
    assert X.shape == (60, 20, 20) and X.max() <= 1.0 and X.max() > 0
    np.testing.assert_array_equal(y, np.repeat(np.arange(3), 20))
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    assert sorted(p.name for p in tiny_data_home.rglob("*")) == ["omniglot", "omniglot.npz"]

    def no_resizing(*args, **kwargs):
        raise AssertionError("the cached copy should have been read")

    monkeypatch.setattr(_omniglot, "_resize_images", no_resizing)
    X_again, _ = load_omniglot("all", image_size=20, data_home=tiny_data_home)
    np.testing.assert_array_equal(X, X_again)
    data = load_omniglot("evaluation", image_size=20, data_home=tiny_data_home, return_X_y=False)
    assert list(data.target_names) == ["Greek/character01"]
    np.testing.assert_array_equal(data.data, X[40:])


def test_omniglot_without_a_writable_cache_warns_and_still_loads(
    tiny_data_home, tmp_path, monkeypatch
):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("SKMETA_CACHE", str(blocker / "cache"))
    with pytest.warns(UserWarning, match="Could not cache"):
        X, _ = load_omniglot("all", image_size=20, data_home=tiny_data_home)
    assert X.shape == (60, 20, 20)


def test_omniglot_partial_copy_lacks_the_vinyals_characters(tiny_data_home):
    with pytest.raises(ValueError, match="no images of some characters of split 'train'"):
        load_omniglot("train", image_size=20, data_home=tiny_data_home)


def test_omniglot_cache_follows_changes_of_the_source(tiny_data_home):
    X, _ = load_omniglot("all", image_size=16, data_home=tiny_data_home)
    path = tiny_data_home / "omniglot" / "omniglot.npz"
    with np.load(path) as f:
        arrays = dict(f)
    arrays["images"] = 1 - arrays["images"]
    np.savez(path, **arrays)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # a later mtime
    X_new, _ = load_omniglot("all", image_size=16, data_home=tiny_data_home)
    assert not np.array_equal(X, X_new)


def test_omniglot_size_105_is_the_source_image(tiny_data_home):
    X, _ = load_omniglot("all", image_size=105, data_home=tiny_data_home, dtype=np.float64)
    with np.load(tiny_data_home / "omniglot" / "omniglot.npz") as f:
        np.testing.assert_array_equal(X, f["images"])


def test_embedded_omniglot_equals_the_resized_full_data(shared_data, tmp_path, monkeypatch):
    for split in ("test", "background"):
        embedded = load_omniglot(split, return_X_y=False)
        full = load_omniglot(split, data_home=shared_data, return_X_y=False)
        np.testing.assert_array_equal(embedded.data, full.data)
        np.testing.assert_array_equal(embedded.target_names, full.target_names)
        np.testing.assert_array_equal(embedded.character, full.character)
        np.testing.assert_array_equal(embedded.drawer, full.drawer)
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1  # resized once, for both

    # The raw images agree with the embedded ones pixel for pixel (105x105, 1 = ink).
    with np.load(shared_data / "omniglot" / "omniglot.npz") as f:
        rows = np.random.default_rng(0).choice(len(f["character"]), size=300, replace=False)
        resized = _omniglot._resize_images(f["images"][rows], 28)
    np.testing.assert_array_equal(resized, _omniglot._embedded()["images"][rows])

    start = time.perf_counter()
    load_omniglot("test", data_home=shared_data)
    assert time.perf_counter() - start < 1.0  # read from the cache


def test_get_data_home(tmp_path, monkeypatch):
    assert get_data_home(tmp_path) == tmp_path.resolve()
    monkeypatch.setenv("SKMETA_DATA", str(tmp_path / "env"))
    assert get_data_home() == (tmp_path / "env").resolve()
    assert get_data_home(tmp_path) == tmp_path.resolve()  # the argument wins
    monkeypatch.delenv("SKMETA_DATA")
    monkeypatch.chdir(tmp_path)
    assert get_data_home() == (tmp_path.parent / "shared" / "data").resolve()


# --------------------------------------------------------------------------- School


def test_school():
    X, y, groups = load_school()
    assert X.shape == (15362, 28) and y.shape == groups.shape == (15362,)
    assert X.dtype == y.dtype == np.float64 and groups.dtype == np.int64
    np.testing.assert_array_equal(np.unique(groups), np.arange(139))
    assert np.all(X[:, -1] == 1)  # bias column
    assert 1 <= y.min() and y.max() <= 70

    data = load_school(return_X_y=False)
    assert len(data.feature_names) == 28 and data.feature_names[-1] == "bias"
    np.testing.assert_array_equal(data.groups, groups)
    assert "School" in data.DESCR


def test_school_from_the_data_folder(shared_data, tmp_path):
    X, y, groups = load_school()
    X_full, y_full, groups_full = load_school(data_home=shared_data)
    np.testing.assert_array_equal(X, X_full)
    np.testing.assert_array_equal(y, y_full)
    np.testing.assert_array_equal(groups, groups_full)
    np.testing.assert_array_equal(load_school(data_home=tmp_path)[0], X)  # embedded fallback


# --------------------------------------------------------------------------- Sinusoids


def _same_tasks(a: list[Task], b: list[Task]) -> bool:
    return all(
        np.array_equal(s.X_support, t.X_support)
        and np.array_equal(s.y_query, t.y_query)
        and np.array_equal(s.descriptor, t.descriptor)
        for s, t in zip(a, b, strict=True)
    )


def test_sinusoid_tasks_follow_the_maml_family():
    tasks = SinusoidTasks(n_support=5, n_query=15, n_tasks=300, random_state=0)
    amplitudes, phases = [], []
    for task in tasks:
        assert isinstance(task, Task)
        assert task.X_support.shape == (5, 1) and task.y_support.shape == (5,)
        assert task.X_query.shape == (15, 1) and task.y_query.shape == (15,)
        amplitude, phase = task.descriptor
        for X, y in (task.support, task.query):
            assert np.all((-5.0 <= X) & (X <= 5.0))
            np.testing.assert_allclose(y, amplitude * np.sin(X[:, 0] - phase))
            np.testing.assert_allclose(y, SinusoidTasks.true_function(task.descriptor, X))
        amplitudes.append(amplitude)
        phases.append(phase)
    assert 0.1 <= min(amplitudes) < 0.5 and 4.6 < max(amplitudes) <= 5.0
    assert 0.0 <= min(phases) < 0.3 and np.pi - 0.3 < max(phases) <= np.pi


def test_sinusoid_custom_ranges():
    tasks = SinusoidTasks(
        n_tasks=50,
        amplitude_range=(1.0, 1.0),
        phase_range=(0.0, 0.0),
        x_range=(0.0, 1.0),
        random_state=1,
    )
    for task in tasks:
        np.testing.assert_array_equal(task.descriptor, [1.0, 0.0])
        assert np.all((0.0 <= task.X_support) & (task.X_support <= 1.0))
        np.testing.assert_allclose(task.y_support, np.sin(task.X_support[:, 0]))


def test_sinusoid_tasks_are_reproducible():
    tasks = SinusoidTasks(n_tasks=5, random_state=42)
    first, second = list(tasks), list(tasks)
    assert _same_tasks(first, second)
    assert _same_tasks(tasks.sample(3), first[:3])
    assert not _same_tasks(list(SinusoidTasks(n_tasks=5, random_state=43)), first)
    # No seed, or a generator: each iteration draws new tasks.
    for random_state in (None, np.random.default_rng(0), np.random.RandomState(0)):
        tasks = SinusoidTasks(n_tasks=5, random_state=random_state)
        assert not _same_tasks(list(tasks), list(tasks))


def test_sinusoid_length():
    tasks = SinusoidTasks(n_tasks=7)
    assert len(tasks) == 7 and len(list(tasks)) == 7
    endless = SinusoidTasks(random_state=0)
    assert len(list(itertools.islice(endless, 1000))) == 1000
    with pytest.raises(TypeError, match="endless"):
        len(endless)
    assert len(SinusoidTasks(n_tasks=2).sample(10)) == 10
    task = SinusoidTasks(n_query=0).sample(1)[0]
    assert task.n_query == 0 and task.n_support == 10


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_support": 0}, "n_support must be an int >= 1"),
        ({"n_support": 2.5}, "n_support"),
        ({"n_query": -1}, "n_query must be an int >= 0"),
        ({"n_tasks": 0}, "n_tasks must be an int >= 1"),
        ({"amplitude_range": (5.0, 0.1)}, "amplitude_range must be finite with low <= high"),
        ({"phase_range": (0.0, np.inf)}, "phase_range"),
        ({"x_range": 5.0}, r"x_range must be a pair \(low, high\)"),
        ({"random_state": "seed"}, "random_state must be None, an int"),
        ({"random_state": -1}, "random_state must be a non-negative int"),
    ],
)
def test_sinusoid_bad_parameters_fail_when_drawing(params, match):
    tasks = SinusoidTasks(**params)  # sklearn style: __init__ only stores
    with pytest.raises(ValueError, match=match):
        iter(tasks)
    with pytest.raises(ValueError, match=match):
        tasks.sample(1)


def test_sinusoid_repr_and_sample_argument():
    tasks = SinusoidTasks(n_support=3, random_state=0)
    assert repr(tasks).startswith("SinusoidTasks(n_support=3, n_query=10, n_tasks=None,")
    assert "random_state=0" in repr(tasks)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        tasks.sample(0)


def test_linear_tasks():
    from skmeta.datasets import LinearTasks

    tasks = LinearTasks(n_support=4, n_query=6, n_tasks=3, n_features=2, random_state=0)
    a, b = list(tasks), list(tasks)
    assert len(a) == len(tasks) == 3
    assert a[0].X_support.shape == (4, 2) and a[0].X_query.shape == (6, 2)
    np.testing.assert_array_equal(a[1].y_query, b[1].y_query)  # an int seed repeats
    w = a[0].descriptor
    X = np.vstack([a[0].X_support, a[0].X_query])
    y = np.concatenate([a[0].y_support, a[0].y_query])
    assert np.abs(X @ w - y).max() < 0.5  # noise=0.1 around the task's own line
    wide = LinearTasks(input_scale=5.0, random_state=0).sample(50)
    assert np.std(np.vstack([t.X_support for t in wide])) == pytest.approx(5.0, rel=0.1)
    for bad in ({"input_scale": 0}, {"noise": -1.0}, {"n_features": 0}):
        with pytest.raises(ValueError):
            LinearTasks(**bad).sample(1)
    assert "input_scale=1.0" in repr(LinearTasks())
