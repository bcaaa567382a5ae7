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


def _is_glibc() -> bool:
    return platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


_heap_widened = False


def _widen_cpu_heap() -> bool:
    """Raise glibc's adaptive heap thresholds to their ceiling, once per process.

    glibc starts by mapping every block of 128 kB or more on its own and trimming the top
    of its heap once 128 kB there are free; each time the program frees a mapped block
    larger than the current threshold, it raises the mapping threshold to that block's
    size and the trim threshold to twice it (mallopt(3), "dynamic mmap threshold"). A
    Conv-4 meta-update on CPU frees 15 MB feature maps, which leaves the trim threshold
    near 30 MB: below what a step frees at the top of the heap, so the heap is trimmed
    after a step and the next one faults its pages in again (measured: 0 to 15,000 page
    faults per ProtoNet episode, see ``benchmarks/cpu_allocator.py``).

    This allocates and frees one untouched block just under glibc's 32 MB ceiling, as a
    program that had once used such a buffer would: the heap then serves blocks up to
    32 MB and is trimmed only when more than 64 MB at its top are free. The thresholds
    stay adaptive (unlike `keep_cpu_heap`, which fixes them), nothing is written, and
    the block's pages are never faulted in. `skmeta.base.resolve_device` calls it when an
    estimator resolves its device to the CPU; later calls do nothing. What it changes is
    measured by ``benchmarks/cpu_allocator.py`` (configurations ``glibc`` and
    ``glibc_widened``).

    Returns
    -------
    widened : bool
        True when this call freed the block; False on later calls and on other C
        libraries (macOS, Windows, musl), where nothing is done.
    """
    global _heap_widened
    if _heap_widened:
        return False
    _heap_widened = True
    if not _is_glibc():
        return False
    libc = ctypes.CDLL(None)
    malloc, free = libc.malloc, libc.free
    malloc.argtypes, malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
    free.argtypes, free.restype = [ctypes.c_void_p], None
    # Two pages under the ceiling: the mapped chunk (the request, its header, rounded up
    # to a page) stays within it, which glibc requires to adopt its size.
    block = malloc(_MAX_MMAP_THRESHOLD - 2 * 4096)
    if not block:
        return False
    free(block)
    return True


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

    skmeta's estimators already raise glibc's adaptive thresholds to their ceiling on
    their own (32 MB and 64 MB: one untouched block allocated and freed, once per
    process), which halves ProtoNet's faults but leaves second-order MAML's; this fixes
    them higher, for good, and takes the faults out of both.

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
    if not _is_glibc():
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
