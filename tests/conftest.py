"""Shared fixtures: small synthetic few-shot problems and the optional real data."""

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def make_pool(n_classes=40, n_per_class=20, n_informative=4, n_noise=28, seed=0):
    """A labelled pool where few-shot learning needs a learned metric.

    Classes differ only in ``n_informative`` dimensions; the other dimensions carry
    large noise. Nearest-centroid on raw features does poorly from one shot; an encoder
    that learns to ignore the noise does well on classes it never saw.
    """
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_informative))
    y = np.repeat(np.arange(n_classes), n_per_class)
    informative = centers[y] + rng.normal(scale=0.5, size=(y.size, n_informative))
    noise = rng.normal(scale=3.0, size=(y.size, n_noise))
    return np.hstack([informative, noise]).astype(np.float32), y


@pytest.fixture
def pool():
    return make_pool()


@pytest.fixture(scope="session")
def omniglot_home():
    """The full Omniglot data home (``SKMETA_DATA`` or ../shared/data); skip without it."""
    for home in (os.environ.get("SKMETA_DATA"), REPO.parent / "shared" / "data"):
        if home and (Path(home) / "omniglot" / "omniglot.npz").is_file():
            return Path(home)
    pytest.skip("full Omniglot data not found (set SKMETA_DATA)")
