"""Omniglot (Lake, Salakhutdinov & Tenenbaum, 2015) with the standard few-shot splits."""

from __future__ import annotations

import contextlib
import functools
import numbers
import os
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from sklearn.utils import Bunch

from ._home import DATA_ENV, _get_cache_home, _missing_data_error, _resolve_data_home

EMBEDDED_PATH = Path(__file__).parent / "data" / "omniglot28.npz"
EMBEDDED_SIZE = 28
SOURCE_SIZE = 105
SOURCE_FILE = "omniglot/omniglot.npz"
VINYALS_DIR = "omniglot/splits/vinyals"
VINYALS_SPLITS = ("train", "val", "trainval", "test")
LAKE_SPLITS = ("background", "evaluation")
SPLITS = VINYALS_SPLITS + LAKE_SPLITS + ("all",)
_ROTATIONS = (0, 90, 180, 270)
# Bump when the layout of the resized arrays changes, so that stale caches are not read.
_CACHE_VERSION = 1
_MIN_SIZE = 8

_DESCR = """\
Omniglot (Lake, Salakhutdinov & Tenenbaum, Science 2015): 1,623 handwritten characters
from 50 alphabets, each drawn once by 20 people. This copy: split {split!r}, {n_classes}
classes, {n_images} images of {size}x{size} pixels, values in [0, 1] with 1 = ink.
{split_note}
Omniglot: MIT License, (c) 2015 Brenden Lake, https://github.com/brendenlake/omniglot
Vinyals split files: MIT License, (c) 2017 Jake Snell,
https://github.com/jakesnell/prototypical-networks
"""
_SPLIT_NOTES = {
    "vinyals": (
        "Vinyals et al. (2016) split (1028 train / 172 val / 423 test characters); each "
        "rotation by 0, 90, 180 or 270 degrees of a character is a class of its own."
    ),
    "lake": "Lake et al. (2015) split: 30 background alphabets, 20 evaluation alphabets.",
    "all": "All characters of both Lake et al. (2015) splits, without rotations.",
}


def _resize_images(images: np.ndarray, image_size: int, *, chunk_size: int = 1024) -> np.ndarray:
    """Resize square 0/1 ink images (uint8, 1 = ink) to 8-bit ``0..255``, 255 = ink.

    The one resizing routine of skmeta: the embedded 28x28 copy is built with it, so that
    resizing the full data on any machine reproduces the embedded file exactly.
    """
    if images.shape[1:] == (image_size, image_size):
        return np.multiply(images, 255, dtype=np.uint8)
    out = np.empty((images.shape[0], image_size, image_size), dtype=np.uint8)
    for start in range(0, images.shape[0], chunk_size):
        # float64: in float32 a handful of pixels land on either side of a .5 rounding
        # boundary depending on the CPU's vector code; float64 keeps the result portable.
        chunk = torch.from_numpy(images[start : start + chunk_size].astype(np.float64))
        chunk = F.interpolate(
            chunk[:, None],
            size=(image_size, image_size),
            mode="bilinear",
            align_corners=False,
            antialias=True,
        )[:, 0]
        chunk = (chunk * 255).round_().clamp_(0, 255)
        out[start : start + chunk_size] = chunk.to(torch.uint8).numpy()
    return out


def _character_table(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Alphabet index and number within its alphabet of each global character id."""
    character = arrays["character"]
    n_characters = int(character.max()) + 1
    alphabet = np.full(n_characters, -1, dtype=np.int64)
    char_in_alphabet = np.zeros(n_characters, dtype=np.int64)
    alphabet[character] = arrays["alphabet"]
    char_in_alphabet[character] = arrays["char_in_alphabet"]
    return alphabet, char_in_alphabet


def _parse_vinyals_file(path: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """``Alphabet/characterNN/rotDDD`` lines -> (n_classes, 2) int16 (character id, degrees)."""
    alphabet, char_in_alphabet = _character_table(arrays)
    names = arrays["alphabet_names"]
    character_of = {
        (str(names[a]), int(c)): i
        for i, (a, c) in enumerate(zip(alphabet, char_in_alphabet))
        if a >= 0
    }
    pattern = re.compile(r"^(?P<alphabet>[^/]+)/character(?P<nn>\d+)/rot(?P<rot>\d+)$")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        match = pattern.match(line.strip())
        key = match and (match["alphabet"], int(match["nn"]))
        if not match or key not in character_of or int(match["rot"]) not in _ROTATIONS:
            raise ValueError(
                f"{path}, line {line_no}: {line!r} is not 'Alphabet/characterNN/rotDDD' with a "
                f"known Omniglot character and a rotation in {_ROTATIONS}."
            )
        rows.append((character_of[key], int(match["rot"])))
    return np.asarray(rows, dtype=np.int16).reshape(-1, 2)


def _read_vinyals_splits(data_dir: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        f"vinyals_{name}": _parse_vinyals_file(data_dir / VINYALS_DIR / f"{name}.txt", arrays)
        for name in VINYALS_SPLITS
    }


def _build_resized(
    data_dir: Path, image_size: int, *, vinyals: dict[str, np.ndarray] | None = None
) -> dict[str, np.ndarray]:
    """Read the full Omniglot under ``data_dir`` and return it resized, in the layout of the
    embedded file: 8-bit images (255 = ink), compact per-image metadata and the Vinyals
    split as (character id, rotation) tables.

    ``vinyals`` replaces the split files of ``data_dir`` when given.
    """
    with np.load(data_dir / SOURCE_FILE, allow_pickle=False) as source:
        missing = {"images", "alphabet", "character", "drawer", "split", "char_in_alphabet"}
        missing -= set(source.files)
        if missing:
            raise ValueError(
                f"{data_dir / SOURCE_FILE} lacks the arrays {sorted(missing)}; it is not "
                "Omniglot in the layout skmeta reads (see skmeta.datasets.get_data_home)."
            )
        alphabet_names, alphabet = _first_seen_codes(source["alphabet"])
        split_names, split = _first_seen_codes(source["split"])
        arrays = {
            "images": _resize_images(source["images"], image_size),
            "character": source["character"].astype(np.int16),
            "drawer": source["drawer"].astype(np.int8),
            "alphabet": alphabet.astype(np.int8),
            "alphabet_names": alphabet_names,
            "char_in_alphabet": source["char_in_alphabet"].astype(np.int8),
            "split": split.astype(np.int8),
            "split_names": split_names,
        }
        if "source_commit" in source.files:
            arrays["source_commit"] = source["source_commit"]
    arrays.update(_read_vinyals_splits(data_dir, arrays) if vinyals is None else vinyals)
    return arrays


def _first_seen_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of ``values``, numbered in order of first appearance."""
    uniques, first, codes = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniques[order], rank[codes.ravel()]


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {key: f[key] for key in f.files}


@functools.lru_cache(maxsize=1)
def _embedded() -> dict[str, np.ndarray]:
    arrays = _read_arrays(EMBEDDED_PATH)
    for value in arrays.values():  # shared between calls: nobody may change it in place
        value.flags.writeable = False
    return arrays


def _cached_resized(data_dir: Path, image_size: int) -> dict[str, np.ndarray]:
    """Resized arrays from the cache folder, building (and caching) them on first use."""
    source = data_dir / SOURCE_FILE
    if image_size == SOURCE_SIZE:  # nothing to resize, a cached copy would not be faster
        return _build_resized(data_dir, image_size, vinyals=_vinyals_or_embedded(data_dir))
    stat = source.stat()
    cache_file = (
        _get_cache_home()
        / "omniglot"
        / f"omniglot_{image_size}px_v{_CACHE_VERSION}_{stat.st_size}_{stat.st_mtime_ns}.npz"
    )
    if cache_file.is_file():
        try:
            return _read_arrays(cache_file)
        except (OSError, ValueError, zipfile.BadZipFile):
            pass  # unreadable (e.g. a disk filled up mid-write): rebuild it below
    arrays = _build_resized(data_dir, image_size, vinyals=_vinyals_or_embedded(data_dir))
    tmp = cache_file.with_name(f"{cache_file.stem}.{os.getpid()}.tmp.npz")
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.savez(tmp, **arrays)
        os.replace(tmp, cache_file)  # atomic: concurrent loaders never see half a file
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        warnings.warn(
            f"Could not cache the resized Omniglot in {cache_file.parent} ({exc}); it will be "
            "resized again next time. Set SKMETA_CACHE to a writable folder to avoid this.",
            stacklevel=4,
        )
    return arrays


def _vinyals_or_embedded(data_dir: Path) -> dict[str, np.ndarray] | None:
    """None (read the split files of ``data_dir``) when they are there, else the tables of
    the embedded copy: a data folder holding only ``omniglot.npz`` is enough."""
    if all((data_dir / VINYALS_DIR / f"{name}.txt").is_file() for name in VINYALS_SPLITS):
        return None
    embedded = _embedded()
    return {f"vinyals_{name}": embedded[f"vinyals_{name}"] for name in VINYALS_SPLITS}


def _check_image_size(image_size: object) -> int:
    if (
        not isinstance(image_size, numbers.Integral)
        or isinstance(image_size, bool)
        or not _MIN_SIZE <= image_size <= SOURCE_SIZE
    ):
        raise ValueError(
            f"image_size must be an int in [{_MIN_SIZE}, {SOURCE_SIZE}] (Omniglot images are "
            f"{SOURCE_SIZE}x{SOURCE_SIZE}; 28 is the standard few-shot size); got {image_size!r}."
        )
    return int(image_size)


def _resized_arrays(image_size: int, data_home: str | os.PathLike | None) -> dict[str, np.ndarray]:
    """The embedded copy where it serves, else the (cached) resized full data."""
    use_data_home = data_home is not None or bool(os.environ.get(DATA_ENV))
    if image_size == EMBEDDED_SIZE and not use_data_home:
        return _embedded()
    data_dir = _resolve_data_home(data_home)[0]
    if (data_dir / SOURCE_FILE).is_file():
        return _cached_resized(data_dir, image_size)
    if image_size == EMBEDDED_SIZE:
        return _embedded()  # the same images, shipped with skmeta
    raise _missing_data_error(
        SOURCE_FILE, data_home, hint=f"(skmeta ships Omniglot only at image_size={EMBEDDED_SIZE}.)"
    )


def _split_classes(arrays: dict[str, np.ndarray], split: str) -> tuple[np.ndarray, np.ndarray]:
    """(character id, rotation in degrees) of each class of ``split``, in class order."""
    if split in VINYALS_SPLITS:
        table = arrays[f"vinyals_{split}"].astype(np.int64)
        return table[:, 0], table[:, 1]
    character = arrays["character"].astype(np.int64)
    if split == "all":
        characters = np.unique(character)
    else:
        split_codes = np.flatnonzero(arrays["split_names"] == split)
        characters = np.unique(character[np.isin(arrays["split"], split_codes)])
    return characters, np.zeros_like(characters)


def load_omniglot(
    split: str = "train",
    image_size: int = 28,
    data_home: str | os.PathLike | None = None,
    *,
    return_X_y: bool = True,
    dtype: npt.DTypeLike = np.float32,
) -> tuple[np.ndarray, np.ndarray] | Bunch:
    """Load Omniglot, the standard few-shot image classification benchmark.

    1,623 handwritten characters from 50 alphabets, each drawn by 20 people. At the
    standard 28x28 size the images ship with skmeta (no download, no setting); other sizes
    are resized from the full 105x105 images of the data folder (see
    :func:`get_data_home`) once, then read from the cache folder (``$SKMETA_CACHE``, else
    ``~/.cache/skmeta``).

    Parameters
    ----------
    split : {"train", "val", "trainval", "test", "background", "evaluation", "all"}, \
default="train"
        Which characters. ``"train"``, ``"val"``, ``"trainval"`` and ``"test"`` are the
        split of Vinyals et al. (2016) that published few-shot results use (1028 / 172 /
        1200 / 423 characters); in it each rotation by 0, 90, 180 and 270 degrees of a
        character is a class of its own (4112 / 688 / 4800 / 1692 classes).
        ``"background"`` (964 characters, 30 alphabets) and ``"evaluation"`` (659
        characters, 20 alphabets) are the split of Lake et al. (2015), without rotations;
        ``"all"`` holds all 1623 characters. No character is in two of "train", "val" and
        "test", nor in both "background" and "evaluation".
    image_size : int, default=28
        Side of the square images, in pixels, from 8 to 105.
    data_home : str or path-like, default=None
        Folder that holds ``omniglot/omniglot.npz``; defaults to ``$SKMETA_DATA``, else
        ``../shared/data``. Not needed at ``image_size=28``, where the copy shipped with
        skmeta is used unless a data folder was named and holds the file (same images).
    return_X_y : bool, default=True
        Return ``(X, y)``; if False, a :class:`~sklearn.utils.Bunch` with metadata.
    dtype : floating dtype, default=np.float32
        Data type of ``X``.

    Returns
    -------
    X : ndarray of shape (n_images, image_size, image_size)
        Images, values in [0, 1] with 1 = ink.
    y : ndarray of shape (n_images,), int64
        Class ids ``0..n_classes-1`` in the split's class order; the 20 images of a class
        are contiguous rows.
    data : :class:`~sklearn.utils.Bunch`
        When ``return_X_y=False``: ``data`` (X), ``target`` (y), ``target_names`` (one per
        class, ``"Alphabet/characterNN/rotDDD"``, or ``"Alphabet/characterNN"`` for splits
        without rotations), per-image ``alphabet``, ``character`` (global id, 0..1622),
        ``drawer`` (1..20) and ``rotation`` (degrees, counter-clockwise), and ``DESCR``.

    Raises
    ------
    FileNotFoundError
        When ``image_size != 28`` and the data folder lacks ``omniglot/omniglot.npz``; the
        message says where it looked.

    See Also
    --------
    get_data_home : Where the full-size data are looked for.
    skmeta.tasks.EpisodeSampler : Draw N-way K-shot episodes from ``(X, y)``.

    Notes
    -----
    Class ``rotDDD`` holds the character's images rotated by DDD degrees
    counter-clockwise (``np.rot90(image, DDD // 90)``). Images are resized with
    antialiased bilinear interpolation and stored as 8 bits, so that ``X`` takes the
    values ``k / 255``.

    Omniglot: MIT License, (c) 2015 Brenden Lake. Vinyals split files: MIT License,
    (c) 2017 Jake Snell.

    References
    ----------
    .. [1] B. M. Lake, R. Salakhutdinov and J. B. Tenenbaum, "Human-level concept learning
       through probabilistic program induction", Science 350(6266), 2015.
    .. [2] O. Vinyals, C. Blundell, T. Lillicrap, K. Kavukcuoglu and D. Wierstra,
       "Matching Networks for One Shot Learning", NeurIPS 2016.

    Examples
    --------
    >>> from skmeta.datasets import load_omniglot
    >>> X, y = load_omniglot("test")
    >>> X.shape, int(y.max()) + 1
    ((33840, 28, 28), 1692)
    >>> omniglot = load_omniglot("evaluation", return_X_y=False)
    >>> str(omniglot.target_names[0]), int(omniglot.drawer[0])
    ('Angelic/character01', 1)
    """
    if split not in SPLITS:
        raise ValueError(f"Unknown Omniglot split {split!r}; choose one of {SPLITS}.")
    image_size = _check_image_size(image_size)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type (images are in [0, 1]); got {dtype}.")

    arrays = _resized_arrays(image_size, data_home)
    class_character, class_rotation = _split_classes(arrays, split)

    # The rows of each character, then those of each class in class order.
    character = arrays["character"].astype(np.int64)
    by_character = np.argsort(character, kind="stable")
    counts = np.bincount(character, minlength=int(class_character.max(initial=0)) + 1)
    starts = np.cumsum(counts) - counts
    lengths = counts[class_character]
    if lengths.size == 0 or not lengths.all():
        raise ValueError(
            f"The Omniglot data in use have no images of some characters of split {split!r}; "
            "is the data folder a complete copy of Omniglot?"
        )
    y = np.repeat(np.arange(class_character.size, dtype=np.int64), lengths)
    offset = np.arange(y.size) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = by_character[np.repeat(starts[class_character], lengths) + offset]

    images = arrays["images"][rows]
    rotation = class_rotation[y]
    for degrees in _ROTATIONS[1:]:
        turned = rotation == degrees
        if turned.any():
            images[turned] = np.rot90(images[turned], degrees // 90, axes=(1, 2))
    X = np.divide(images, 255, dtype=dtype)
    if return_X_y:
        return X, y

    alphabet, char_in_alphabet = _character_table(arrays)
    names = arrays["alphabet_names"]
    target_names = np.array(
        [
            f"{names[alphabet[c]]}/character{char_in_alphabet[c]:02d}"
            + (f"/rot{r:03d}" if split in VINYALS_SPLITS else "")
            for c, r in zip(class_character, class_rotation)
        ]
    )
    kind = "vinyals" if split in VINYALS_SPLITS else "lake" if split in LAKE_SPLITS else split
    return Bunch(
        data=X,
        target=y,
        target_names=target_names,
        alphabet=names[arrays["alphabet"][rows]],
        character=character[rows],
        drawer=arrays["drawer"][rows].astype(np.int64),
        rotation=rotation,
        DESCR=_DESCR.format(
            split=split,
            n_classes=class_character.size,
            n_images=y.size,
            size=image_size,
            split_note=_SPLIT_NOTES[kind],
        ),
    )
