"""`make bench`: time every lesson and the book builds; write benchmarks/RESULTS.md.

Measured, never asserted: tests do not check wall time. Budgets (DESIGN.md): each lesson
at most 180 s (lesson 01: 120 s) and 3 GB; cold book build at most 15 min; warm rebuild
with nothing changed at most 30 s.
"""

from __future__ import annotations

import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUDGETS = {"01-data-and-profiles": 120.0}
DEFAULT_BUDGET = 180.0


def _machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{platform.node()}: {os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def _run(cmd: list[str], **kwargs) -> tuple[float, float]:
    """Wall seconds and peak memory (GiB) of the child processes of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, **kwargs)
    seconds = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    return seconds, peak


def time_lessons(results_dir: Path) -> list[tuple[str, float, float]]:
    rows = []
    env = dict(os.environ, ECOMREC_RESULTS_DIR=str(results_dir))
    for nb in sorted((ROOT / "lessons").glob("*.ipynb")):
        out = results_dir / nb.name
        seconds, peak = _run(
            [
                str(BIN / "jupyter"),
                "nbconvert",
                "--to",
                "notebook",
                "--execute",
                f"--output={out}",
                "--ExecutePreprocessor.timeout=600",
                str(nb),
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        rows.append((nb.stem, seconds, peak))
        print(f"{nb.stem}: {seconds:.1f} s")
    return rows


def time_book(build_dir: Path) -> tuple[float, float]:
    """Cold build (empty execution cache) and warm rebuild (nothing changed)."""
    cmd = [
        str(BIN / "jupyter-book"),
        "build",
        ".",
        "-W",
        "-n",
        "--keep-going",
        "--path-output",
        str(build_dir),
    ]
    env = dict(os.environ, ECOMREC_RESULTS_DIR=str(build_dir / "results"))
    cold, _ = _run(cmd, env=env, stderr=subprocess.DEVNULL)
    warm, _ = _run(cmd, env=env, stderr=subprocess.DEVNULL)
    print(f"book: cold {cold:.1f} s, warm {warm:.1f} s")
    return cold, warm


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ecomrec-bench-") as tmp:
        lessons = time_lessons(Path(tmp) / "lessons")
        cold, warm = time_book(Path(tmp) / "book")
        shutil.rmtree(tmp, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/run.py`); tests never assert these times.",
        "",
        f"- Measured: {when}",
        f"- Machine: {_machine()}",
        "",
        "## Lessons (executed top to bottom with `jupyter nbconvert --execute`)",
        "",
        "| lesson | seconds | budget | peak memory (GiB) |",
        "|---|---:|---:|---:|",
    ]
    for name, seconds, peak in lessons:
        budget = BUDGETS.get(name, DEFAULT_BUDGET)
        flag = "" if seconds <= budget else " **over budget**"
        lines.append(f"| {name} | {seconds:.1f}{flag} | {budget:.0f} | {peak:.2f} |")
    lines += [
        "",
        "## Book (`jupyter-book build . -W -n --keep-going`)",
        "",
        "| build | seconds | budget |",
        "|---|---:|---:|",
        f"| cold (empty execution cache, every lesson executed) | {cold:.1f} | 900 |",
        f"| warm (nothing changed) | {warm:.1f} | 30 |",
        "",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
