"""The Omniglot test protocol that the runner and the scripts in ``benchmarks/`` share."""

from __future__ import annotations

from typing import Any

from ..tasks import EpisodeSampler

#: Seed of the test episodes: every Omniglot benchmark scores the same episodes.
TEST_SEED = 12345
#: Seed of the validation episodes (model selection on the "val" characters).
VALIDATION_SEED = 54321
#: Query images per class in a test episode, as in the papers.
TEST_N_QUERY = 15


def omniglot_test_episodes(
    X_test: Any, y_test: Any, n_way: int, n_shot: int, n_episodes: int
) -> EpisodeSampler:
    """The fixed N-way K-shot test episodes (15 queries per class) of the unseen classes."""
    return EpisodeSampler(
        X_test,
        y_test,
        n_way=n_way,
        n_shot=n_shot,
        n_query=TEST_N_QUERY,
        n_episodes=n_episodes,
        random_state=TEST_SEED,
    )


def omniglot_validation_episodes(
    X_val: Any, y_val: Any, n_way: int, n_shot: int, n_episodes: int
) -> EpisodeSampler:
    """Fixed N-way K-shot episodes (15 queries per class) of the validation characters,
    for model selection; never the test characters."""
    return EpisodeSampler(
        X_val,
        y_val,
        n_way=n_way,
        n_shot=n_shot,
        n_query=TEST_N_QUERY,
        n_episodes=n_episodes,
        random_state=VALIDATION_SEED,
    )
