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
    >>> del os.environ["ECOMREC_RESULTS_DIR"]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR_VARIABLE = "ECOMREC_RESULTS_DIR"
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


def record_results(slug: str, results: Mapping[str, Any]) -> Path:
    """Write `results` to ``<results_dir()>/<slug>.json`` and return the path.

    Pretty-printed with sorted keys so the file diffs well; numpy scalars become Python
    numbers. NaN and infinity are refused (they are not JSON and usually mean a bug).
    The file is replaced atomically, so a reader never sees half a file.
    """
    path = _results_path(slug)
    try:
        text = json.dumps(
            dict(results), indent=2, sort_keys=True, default=_to_json_value, allow_nan=False
        )
    except ValueError as error:
        raise ValueError(f"results for {slug!r} contain NaN or infinity: {error}") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def load_results(slug: str) -> dict[str, Any]:
    """Read the results recorded under `slug`.

    Raises:
        FileNotFoundError: if nothing was recorded yet, saying how to produce it.
    """
    path = _results_path(slug)
    if not path.is_file():
        raise FileNotFoundError(
            f"No results recorded for {slug!r} (looked for {path}). They are written when "
            f"the lesson runs: build the book (`make book`) or execute the lesson notebook "
            f"(e.g. lessons/{slug}.ipynb) first, or set {RESULTS_DIR_VARIABLE} to the "
            "folder that holds them."
        )
    return json.loads(path.read_text(encoding="utf-8"))
