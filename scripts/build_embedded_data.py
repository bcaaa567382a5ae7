"""Build the data files that ship inside skmeta, from the raw data folder.

Writes, under ``skmeta/datasets/data/``:

* ``omniglot28.npz``: all 32,460 Omniglot images resized 105 -> 28 (8 bits, 255 = ink),
  their metadata and the Vinyals split, in the layout ``load_omniglot`` reads;
* ``school.npz``: a copy of ``mtl/school.npz``.

Usage::

    python scripts/build_embedded_data.py [--data-home PATH]

PATH defaults to ``$SKMETA_DATA``, else ``../shared/data`` relative to the working
directory. The output is byte-for-byte reproducible: same inputs, same files.
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# A fixed timestamp inside the zip archive, so that rebuilding leaves git with no diff.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def save_npz_reproducibly(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` (maximum compression), without the write-time stamps."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-home",
        default=None,
        help="raw data folder (default: $SKMETA_DATA, else ../shared/data)",
    )
    args = parser.parse_args(argv)

    # Build with the resizing code of this checkout, not with an installed skmeta.
    sys.path.insert(0, str(REPO))
    from skmeta.datasets._home import _missing_data_error, get_data_home
    from skmeta.datasets._omniglot import (
        EMBEDDED_PATH,
        EMBEDDED_SIZE,
        SOURCE_FILE,
        VINYALS_DIR,
        VINYALS_SPLITS,
        _build_resized,
    )

    data_home = get_data_home(args.data_home)
    needed = [SOURCE_FILE, "mtl/school.npz"]
    needed += [f"{VINYALS_DIR}/{name}.txt" for name in VINYALS_SPLITS]
    for relative in needed:
        if not (data_home / relative).is_file():
            sys.exit(str(_missing_data_error(relative, args.data_home)))
    out_dir = EMBEDDED_PATH.parent
    out_dir.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    arrays = _build_resized(data_home, EMBEDDED_SIZE)
    n_classes = {k: len(v) for k, v in arrays.items() if k.startswith("vinyals_")}
    print(
        f"resized {len(arrays['images'])} images to {EMBEDDED_SIZE}x{EMBEDDED_SIZE} "
        f"in {time.perf_counter() - start:.1f} s; Vinyals classes: {n_classes}"
    )
    save_npz_reproducibly(EMBEDDED_PATH, arrays)
    print(f"wrote {EMBEDDED_PATH} ({EMBEDDED_PATH.stat().st_size / 1e6:.2f} MB)")

    school = out_dir / "school.npz"
    shutil.copyfile(data_home / "mtl" / "school.npz", school)
    print(f"wrote {school} ({school.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
