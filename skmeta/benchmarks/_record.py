"""What every benchmark record holds: versions, machine, time, and where it is written."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

#: Where records go by default: ``benchmarks/results/`` of the current directory (the
#: repository root, when run as ``python -m skmeta.benchmarks`` from a checkout).
RESULTS_DIR = Path("benchmarks") / "results"


def environment(device: Any = None, reference_ms: float | None = None) -> dict[str, dict[str, Any]]:
    """Versions of the software and a description of the machine a benchmark ran on.

    Parameters
    ----------
    device : torch.device or str, default=None
        The device the estimator used (its ``device_``), recorded as given.
    reference_ms : float, default=None
        The machine's time for a fixed workload (`reference_step_ms`, measured when the
        run started), recorded as ``machine["reference_ms"]``.

    Returns
    -------
    env : dict
        ``{"versions": {...}, "machine": {...}}``: python, numpy, torch, scikit-learn and
        skmeta versions; platform, processor, CPU model (where the system names it), CPU
        count, torch threads, CUDA device name, and the memory-allocator settings of the
        environment (``LD_PRELOAD``, glibc's ``MALLOC_*`` variables, torch's
        ``THP_MEM_ALLOC_ENABLE``; empty: the defaults), which change CPU times by several
        per cent. Times from different CPU models are not comparable: compare those of
        one record, or of records on the same model.

    Examples
    --------
    >>> from skmeta.benchmarks import environment
    >>> sorted(environment()["versions"])
    ['numpy', 'python', 'sklearn', 'skmeta', 'torch']
    """
    import sklearn
    import torch

    import skmeta

    machine = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "allocator": allocator_settings(),
    }
    if device is not None:
        machine["device"] = str(device)
    if reference_ms is not None:
        machine["reference_ms"] = reference_ms
    return {
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
            "sklearn": sklearn.__version__,
            "skmeta": skmeta.__version__,
        },
        "machine": machine,
    }


def allocator_settings() -> dict[str, str]:
    """The environment variables that choose or tune the process's memory allocator."""
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith("MALLOC_") or k in ("LD_PRELOAD", "THP_MEM_ALLOC_ENABLE")
    }


def reference_step_ms(repeats: int = 5) -> float:
    """Milliseconds a fixed workload takes here: a yardstick for comparing machines.

    The workload is a forward and a backward pass of a Conv-4 network written with plain
    ``torch.nn`` layers (four blocks of 3x3 convolution with 64 channels, batch norm,
    ReLU and 2x2 max-pool; not skmeta's own `skmeta.nn.Conv4`, so that changes to skmeta
    leave it alone) over 80 random 28x28 images, the size of a 5-way 1-shot episode with
    15 queries per class, on the CPU with the current number of torch threads. Returned:
    the median of ``repeats`` timed passes after one untimed pass (1.6 s in all on
    a 2.0 GHz AMD EPYC core). Benchmarks record it when they start: two records' times compare after
    dividing each by its ``reference_ms``, and a record whose ``reference_ms`` is twice
    another's ran on a machine (or under a load) that is about twice as slow.

    Examples
    --------
    >>> from skmeta.benchmarks import reference_step_ms
    >>> reference_step_ms(repeats=1) > 0
    True
    """
    import statistics

    import torch
    from torch import nn

    with torch.random.fork_rng(devices=[]):  # the caller's random numbers stay as they were
        torch.manual_seed(0)
        blocks: list[nn.Module] = []
        for c_in in (1, 64, 64, 64):
            blocks += [
                nn.Conv2d(c_in, 64, 3, padding=1),
                nn.BatchNorm2d(64),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
        net = nn.Sequential(*blocks, nn.Flatten())
        x = torch.rand(80, 1, 28, 28)
    times = []
    for i in range(repeats + 1):
        tic = time.perf_counter()
        net.zero_grad(set_to_none=True)
        net(x).square().mean().backward()
        if i:  # the first pass warms up (allocations, kernel choice)
            times.append(1000 * (time.perf_counter() - tic))
    return round(statistics.median(times), 2)


def cpu_model() -> str | None:
    """The CPU's model name as the system reports it (``/proc/cpuinfo`` on Linux,
    ``sysctl`` on macOS), or None where it does not.

    Examples
    --------
    >>> from skmeta.benchmarks import cpu_model
    >>> name = cpu_model()
    >>> name is None or isinstance(name, str)
    True
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            fields: dict[str, str] = {}
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        fields = {}
    name = fields.get("model name") or fields.get("Model") or fields.get("cpu model")
    if not name and "CPU implementer" in fields and "CPU part" in fields:
        # Linux on Arm names no model, only the designer's and the core's codes.
        name = f"Arm implementer {fields['CPU implementer']}, part {fields['CPU part']}"
    if name:
        # A virtual machine may report only the brand ("AMD EPYC"): family and model
        # tell the generations apart.
        if "cpu family" in fields and "model" in fields:
            name += f" (family {fields['cpu family']}, model {fields['model']})"
        return name
    if sys.platform == "darwin":
        import subprocess

        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() or None
    return None


def write_record(record: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write a benchmark record as indented JSON, creating the folder; return the path.

    The record gains ``command`` (the command line that produced it) and ``date`` when it
    has none.

    Examples
    --------
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from skmeta.benchmarks import write_record
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = write_record({"result": {"mean": 0.9}}, Path(tmp) / "run.json")
    ...     json.loads(path.read_text())["result"]
    {'mean': 0.9}
    """
    record.setdefault("command", " ".join([Path(sys.executable).name, *sys.argv]))
    record.setdefault("date", time.strftime("%Y-%m-%d %H:%M:%S"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(record), indent=2, allow_nan=False) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars and arrays as numbers and lists, NaN (an undefined
    interval, from one task) as null, paths and other objects as strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
