"""The C library's memory allocator, for meta-training on CPU."""

from __future__ import annotations

import ctypes
import platform

# mallopt parameters of glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's largest mmap threshold on 64-bit systems (HEAP_MAX_SIZE / 2); larger values
#: are refused.
_MAX_MMAP_THRESHOLD = 32 * 2**20


def keep_cpu_heap(mmap_threshold: int = _MAX_MMAP_THRESHOLD, trim_threshold: int = 2**30) -> bool:
    """Have glibc keep freed memory for reuse instead of returning it to the system.

    A meta-update on CPU allocates and frees feature maps of several MB each step (16 MB
    for the first Conv-4 block of an 80-image Omniglot episode). glibc's ``malloc``
    returns the free top of its heap to the system once it passes a threshold that it
    adapts as the program runs, so the next step's tensors are faulted in again page by
    page and zeroed by the kernel: system time that depends on the order of allocations
    and varies from run to run (measured: 0 to 15,000 page faults per ProtoNet episode,
    up to a third of the step's time; see ``benchmarks/cpu_allocator.py``).

    This sets, for the whole process, what the environment variables
    ``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` set at start-up: blocks below
    ``mmap_threshold`` come from the heap, and the heap is trimmed only when more than
    ``trim_threshold`` bytes at its top are free. Call it once, e.g. at the top of a
    notebook or a training script, where the environment of the process can no longer be
    changed. The process then keeps up to ``trim_threshold`` bytes of freed memory.

    Parameters
    ----------
    mmap_threshold : int, default=33554432
        Bytes from which a block is mapped on its own rather than taken from the heap.
        32 MB (the default) is the largest glibc accepts on 64-bit systems.
    trim_threshold : int, default=1073741824
        Free bytes at the top of the heap above which glibc returns them to the system.

    Returns
    -------
    applied : bool
        True when glibc took both settings; False on other C libraries (macOS, Windows,
        musl), where nothing is changed.

    Examples
    --------
    >>> from skmeta.nn import keep_cpu_heap
    >>> applied = keep_cpu_heap()    # True on Linux with glibc
    """
    for name, value in (("mmap_threshold", mmap_threshold), ("trim_threshold", trim_threshold)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int of bytes, got {value!r}.")
    if mmap_threshold > _MAX_MMAP_THRESHOLD:
        raise ValueError(
            f"mmap_threshold={mmap_threshold} is above glibc's largest, "
            f"{_MAX_MMAP_THRESHOLD} (32 MB); pass at most that."
        )
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # glibc takes ints: thresholds above 2 GB are capped at INT_MAX.
    cap = 2**31 - 1
    return bool(
        mallopt(_M_MMAP_THRESHOLD, min(mmap_threshold, cap))
        and mallopt(_M_TRIM_THRESHOLD, min(trim_threshold, cap))
    )
