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


def make_submissions(folder: Path, slug: str, n: int) -> None:
    """n submissions from the release: a third perfect, a third half done, a third untouched."""
    import nbformat

    from autograder.checks import perfect_submission

    release = ROOT / "exercises" / slug / f"{slug}.ipynb"
    source = ROOT / "solutions" / slug / f"{slug}.ipynb"
    perfect = perfect_submission(source, release)
    half = nbformat.read(release, as_version=4)
    answers = [c for c in perfect.cells if c.metadata.get("nbgrader", {}).get("solution")]
    for cell in half.cells:
        meta = cell.metadata.get("nbgrader", {})
        for answer in answers[: len(answers) // 2]:
            if meta.get("grade_id") == answer.metadata["nbgrader"]["grade_id"]:
                cell.source = answer.source
    kinds = [perfect, half, nbformat.read(release, as_version=4)]
    for i in range(n):
        target = folder / f"student{i:02d}" / slug
        target.mkdir(parents=True)
        nbformat.write(kinds[i % 3], target / release.name)


def time_grading(tmp: Path, slug: str = "01-data-and-profiles", n: int = 40) -> dict:
    """`course grade --workers 2` against plain sequential `nbgrader autograde`."""
    subs = tmp / "submissions"
    make_submissions(subs, slug, n)
    course = [
        str(BIN / "course"),
        "--workdir",
        str(tmp / "course-work"),
        "grade",
        slug,
        "--submissions",
        str(subs),
        "--out",
        str(tmp / "course-out"),
        "--workers",
        "2",
    ]
    ours, _ = _run(course, stderr=subprocess.DEVNULL)
    # plain nbgrader: the same course configuration, its own work folder, no sandbox
    work = tmp / "plain-work"
    env = dict(
        os.environ,
        ECOMREC_GRADER_WORKDIR=str(work),
        JUPYTER_CONFIG_PATH=str(ROOT / "autograder"),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    release = [
        str(BIN / "nbgrader"),
        "generate_assignment",
        slug,
        "--force",
        f"--CourseDirectory.release_directory={tmp / 'plain-release'}",
    ]
    subprocess.run(release, cwd=ROOT, env=env, check=True, capture_output=True)
    shutil.copytree(subs, work / "submitted")
    plain, _ = _run(
        [str(BIN / "nbgrader"), "autograde", slug, "--force"], env=env, stderr=subprocess.DEVNULL
    )
    print(
        f"grading {n} submissions: course grade --workers 2 {ours:.1f} s, "
        f"nbgrader autograde {plain:.1f} s"
    )
    return {"n": n, "course": ours, "plain": plain}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="ecomrec-bench-") as tmp:
        grading = time_grading(Path(tmp) / "grading")
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
        f"## Grading throughput ({grading['n']} generated submissions of 01-data-and-profiles)",
        "",
        "| grader | seconds | submissions per minute |",
        "|---|---:|---:|",
        f"| `course grade --workers 2` (sandboxed, tamper checks) | {grading['course']:.1f} | "
        f"{60 * grading['n'] / grading['course']:.1f} |",
        f"| plain sequential `nbgrader autograde` (no sandbox) | {grading['plain']:.1f} | "
        f"{60 * grading['n'] / grading['plain']:.1f} |",
        "",
    ]
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
