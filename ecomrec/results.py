"""Record a lesson's headline numbers once, read them everywhere else.

The book build executes each lesson exactly once; the lesson's last cells call
:func:`record_results`, and the tests and the results page call :func:`load_results`
instead of re-training anything.

Example:
    >>> import os, tempfile
    >>> os.environ["ECOMREC_RESULTS_DIR"] = tempfile.mkdtemp()
    >>> path = record_results("demo", {"ndcg@10": np.float32(0.25), "n_targets": np.int64(3)})
    >>> load_results("demo")
    {'n_targets': 3, 'ndcg@10': 0.25}
    >>> sorted(measured_on("demo"))  # when, where and how long: stored beside the numbers
    ['cpu', 'cpus', 'load_average', 'memory_gib', 'process_seconds', 'python', 'system', 'when']
    >>> del os.environ["ECOMREC_RESULTS_DIR"]
"""

from __future__ import annotations

import json
import os
import platform
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR_VARIABLE = "ECOMREC_RESULTS_DIR"
MEASURED_KEY = "_measured"  # reserved: where record_results stores the machine and time
_SLUG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def results_dir() -> Path:
    """Where results live: ``$ECOMREC_RESULTS_DIR`` if set, else ``<repo>/_build/results``.

    The repo root is the folder that holds the ``ecomrec`` package.
    """
    configured = os.environ.get(RESULTS_DIR_VARIABLE)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent / "_build" / "results"


def _results_path(slug: str) -> Path:
    if not _SLUG_PATTERN.fullmatch(slug):
        raise ValueError(
            f"slug {slug!r} must be a plain name (letters, digits, '.', '_', '-'), not a path"
        )
    return results_dir() / f"{slug}.json"


def _to_json_value(value: Any) -> Any:
    """Turn numpy scalars and arrays into plain Python numbers and lists for JSON."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot record a value of type {type(value).__name__}: {value!r}")


def _process_seconds() -> float | None:
    """Seconds since this process started (in a notebook kernel: the notebook's run so far)."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return round(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 1)


def machine_info() -> dict[str, Any]:
    """When and on what the numbers were measured: UTC time, CPU, cores, memory, load."""
    cpu = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        memory = float("nan")
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1) if memory == memory else None,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "process_seconds": _process_seconds(),
    }


def describe_machine(info: Mapping[str, Any]) -> str:
    """One line for people: ``2 cores (Intel ...), 24 GiB RAM, Linux 6.1, Python 3.11.7``."""
    memory = info.get("memory_gib")
    memory_text = f"{memory:.0f} GiB RAM" if isinstance(memory, int | float) else "RAM unknown"
    return (
        f"{info.get('cpus')} cores ({info.get('cpu')}), {memory_text}, "
        f"{info.get('system')}, Python {info.get('python')}"
    )


def record_results(slug: str, results: Mapping[str, Any]) -> Path:
    """Write `results` to ``<results_dir()>/<slug>.json`` and return the path.

    Pretty-printed with sorted keys so the file diffs well; numpy scalars become Python
    numbers. NaN and infinity are refused (they are not JSON and usually mean a bug).
    The file is replaced atomically, so a reader never sees half a file. The machine and
    time (:func:`machine_info`) are stored beside the numbers; :func:`measured_on` reads them.
    """
    path = _results_path(slug)
    if MEASURED_KEY in results:
        raise ValueError(f"{MEASURED_KEY!r} is reserved for the machine description")
    try:
        text = json.dumps(
            {**results, MEASURED_KEY: machine_info()},
            indent=2,
            sort_keys=True,
            default=_to_json_value,
            allow_nan=False,
        )
    except ValueError as error:
        raise ValueError(f"results for {slug!r} contain NaN or infinity: {error}") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def load_results(slug: str) -> dict[str, Any]:
    """Read the results recorded under `slug` (without the machine description).

    Raises:
        FileNotFoundError: if nothing was recorded yet, saying how to produce it.
    """
    results = _load(slug)
    results.pop(MEASURED_KEY, None)
    return results


def measured_on(slug: str) -> dict[str, Any] | None:
    """The machine and time `slug`'s results were recorded on (None for older files)."""
    return _load(slug).get(MEASURED_KEY)


def _load(slug: str) -> dict[str, Any]:
    path = _results_path(slug)
    if not path.is_file():
        raise FileNotFoundError(
            f"No results recorded for {slug!r} (looked for {path}). They are written when "
            f"the lesson runs: build the book (`make book`) or execute the lesson notebook "
            f"(e.g. lessons/{slug}.ipynb) first, or set {RESULTS_DIR_VARIABLE} to the "
            "folder that holds them."
        )
    return json.loads(path.read_text(encoding="utf-8"))
