"""Where skmeta looks for raw data, and where it keeps derived (cached) arrays."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "SKMETA_DATA"
CACHE_ENV = "SKMETA_CACHE"
_DEFAULT_DATA_HOME = Path("..") / "shared" / "data"


def _resolve_data_home(data_home: str | os.PathLike | None) -> tuple[Path, str]:
    """The data folder and, for error messages, where that choice came from."""
    if data_home is not None:
        return Path(data_home).expanduser().resolve(), "the data_home argument"
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser().resolve(), f"${DATA_ENV}"
    return (Path.cwd() / _DEFAULT_DATA_HOME).resolve(), (
        f"the default {_DEFAULT_DATA_HOME.as_posix()} relative to the working directory, "
        f"as data_home is None and ${DATA_ENV} is not set"
    )


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Return the folder that holds skmeta's raw (full-size) data sets.

    The folder is ``data_home`` when given, else the ``SKMETA_DATA`` environment variable,
    else ``../shared/data`` relative to the current working directory. It is only read,
    never written to (derived arrays go to the cache folder, ``$SKMETA_CACHE`` or
    ``~/.cache/skmeta``).

    The loaders do not need it for the data that ship with skmeta (Omniglot at 28x28 and
    School); only other image sizes read the full Omniglot from there. Its layout is::

        omniglot/omniglot.npz
        omniglot/splits/vinyals/{train,val,trainval,test}.txt
        mtl/school.npz

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit data folder; ``~`` is expanded.

    Returns
    -------
    data_home : pathlib.Path
        Absolute path of the folder (which need not exist).

    See Also
    --------
    load_omniglot : Omniglot images, embedded at 28x28, any size from the data folder.
    load_school : The School multi-task regression data.

    Examples
    --------
    >>> from skmeta.datasets import get_data_home
    >>> get_data_home("/data/skmeta").as_posix()
    '/data/skmeta'
    """
    return _resolve_data_home(data_home)[0]


def _missing_data_error(
    relative: str, data_home: str | os.PathLike | None, *, hint: str = ""
) -> FileNotFoundError:
    """The error for a data file that is not in the data folder: where skmeta looked, and
    how to point it elsewhere."""
    home, origin = _resolve_data_home(data_home)
    return FileNotFoundError(
        f"Could not find {relative}. Looked in:\n"
        f"  - {home / relative} (data folder from {origin})\n"
        f"Pass data_home='/path/to/data' or set the {DATA_ENV} environment variable to a "
        f"folder that contains {relative}.{(' ' + hint) if hint else ''}"
    )


def _get_cache_home() -> Path:
    """Folder for derived arrays: ``$SKMETA_CACHE``, else ``~/.cache/skmeta``."""
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/skmeta").expanduser()
