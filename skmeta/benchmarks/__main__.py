"""``python -m skmeta.benchmarks``: see `skmeta.benchmarks.main`."""

from ._cli import main

main()
