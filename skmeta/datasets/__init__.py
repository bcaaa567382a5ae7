"""Data sets and task families for meta-learning, shipped with skmeta (no downloads)."""

from ._home import get_data_home
from ._linear import LinearTasks
from ._omniglot import load_omniglot
from ._school import load_school
from ._sinusoid import SinusoidTasks

__all__ = ["LinearTasks", "SinusoidTasks", "get_data_home", "load_omniglot", "load_school"]
