"""Episodic evaluation: mean score over tasks with a 95% confidence interval, and scorers."""

from ._episodic import EpisodicScore, EpisodicScorer, episodic_scorer, evaluate

__all__ = ["EpisodicScore", "EpisodicScorer", "episodic_scorer", "evaluate"]
