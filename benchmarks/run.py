"""`make bench`: time every lesson and the book builds; write benchmarks/RESULTS.md.

Measured, never asserted: tests do not check wall time. Budgets (DESIGN.md): each lesson
at most 180 s (lesson 01: 120 s) and 3 GB; cold book build at most 15 min; warm rebuild
with nothing changed at most 30 s.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ecomrec.results import describe_machine, machine_info

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
BUDGETS = {"01-data-and-profiles": 120.0}
DEFAULT_BUDGET = 180.0


def _machine() -> str:
    return f"{platform.node()}: {describe_machine(machine_info())}"


_PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:]).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _run(cmd: list[str], **kwargs) -> tuple[float, float]:
    """Wall seconds and peak memory (GiB) of one command and the processes it starts.

    The command runs under a small Python wrapper, so the peak is this command's own (the
    largest resident set among it and its descendants, e.g. a notebook's kernel), not the
    largest of every command run so far.
    """
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _PEAK, *cmd],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=proc.stderr)
    peak_kib = int(proc.stderr.strip().splitlines()[-1])
    return seconds, peak_kib / 2**20


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
        )
        rows.append((nb.stem, seconds, peak))
        print(f"{nb.stem}: {seconds:.1f} s")
    return rows


CHANGED_LESSON = "01-data-and-profiles"  # the cheapest lesson, for the one-lesson rebuild


def _book_build(root: Path, env: dict) -> tuple[float, list[list]]:
    """One strict build of the book at `root`: wall seconds and the notebooks it executed."""
    import re

    cmd = [str(BIN / "jupyter-book"), "build", ".", "-W", "-n", "--keep-going"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"book build failed in {root}:\n{proc.stdout[-3000:]}{proc.stderr}")
    executed = re.findall(
        r"([\w./-]+)\.ipynb: Executed notebook in ([\d.]+) seconds", proc.stdout + proc.stderr
    )
    return seconds, [[Path(name).stem, float(sec)] for name, sec in executed]


def time_book(work: Path) -> dict:
    """Cold build, warm rebuild with nothing changed, and rebuild after one lesson changed.

    Runs on a copy of the repository (without .git, .venv and _build) so the execution cache
    starts empty and editing a lesson cannot touch the real one. The cold build executes every
    lesson once; the build log gives each notebook's execution time.
    """
    import nbformat

    copy = work / "repo"
    skip = {ROOT / ".git", ROOT / ".venv", ROOT / "_build", ROOT / "autograder" / "work"}
    shutil.copytree(ROOT, copy, ignore=lambda d, names: [n for n in names if Path(d, n) in skip])
    # the lessons record into the copy's _build/results, where its results page reads them
    env = dict(os.environ, ECOMREC_RESULTS_DIR=str(copy / "_build" / "results"))
    cold, executed = _book_build(copy, env)
    print(f"book: cold {cold:.1f} s")
    warm, warm_executed = _book_build(copy, env)
    print(f"book: warm {warm:.1f} s, executed {[n for n, _ in warm_executed]}")
    lesson = copy / "lessons" / f"{CHANGED_LESSON}.ipynb"
    nb = nbformat.read(lesson, as_version=4)
    parameters = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    parameters.source += "\n# edited by make bench: a code change invalidates the cached run"
    nbformat.write(nb, lesson)
    one, one_executed = _book_build(copy, env)
    print(f"book: one lesson changed {one:.1f} s, executed {[n for n, _ in one_executed]}")
    return {
        "cold": cold,
        "warm": warm,
        "one_lesson": one,
        "changed_lesson": CHANGED_LESSON,
        "executed": executed,
        "warm_executed": warm_executed,
        "one_lesson_executed": one_executed,
    }


def make_submissions(folder: Path, slug: str, n: int) -> None:
    """n submissions from the release: a third perfect, a third half done, a third untouched."""
    import nbformat
    from nbgrader import utils

    from autograder.checks import perfect_submission

    release = ROOT / "exercises" / slug / f"{slug}.ipynb"
    source = ROOT / "solutions" / slug / f"{slug}.ipynb"
    perfect = perfect_submission(source, release)
    half = nbformat.read(release, as_version=4)
    answers = [c for c in perfect.cells if utils.is_solution(c)]
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
    ours, _ = _run(course)
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
    plain, _ = _run([str(BIN / "nbgrader"), "autograde", slug, "--force"], env=env)
    print(
        f"grading {n} submissions: course grade --workers 2 {ours:.1f} s, "
        f"nbgrader autograde {plain:.1f} s"
    )
    return {"n": n, "course": ours, "plain": plain}


RESULTS_JSON = ROOT / "benchmarks" / "results.json"


def render(results: dict) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`benchmarks/run.py`) from `benchmarks/results.json`; tests never",
        "assert these times. Each section says when and on what machine it was measured.",
        "",
    ]
    if "lessons" in results:
        r = results["lessons"]
        lines += [
            "## Lessons (executed top to bottom with `jupyter nbconvert --execute`)",
            "",
            f"Measured {r['when']} on {r['machine']}.",
            "",
            r.get("note", ""),
            "",
            "| lesson | seconds | budget | peak memory (GiB) |",
            "|---|---:|---:|---:|",
        ]
        for name, seconds, peak in r["rows"]:
            budget = BUDGETS.get(name, DEFAULT_BUDGET)
            flag = "" if seconds <= budget else " **over budget**"
            lines.append(f"| {name} | {seconds:.1f}{flag} | {budget:.0f} | {peak:.2f} |")
        lines.append("")
    if "book" in results:
        r = results["book"]
        lines += [
            "## Book (`jupyter-book build . -W -n --keep-going`)",
            "",
            f"Measured {r['when']} on {r['machine']}.",
            "",
            r.get("note", ""),
            "",
            "| build | seconds | budget |",
            "|---|---:|---:|",
            f"| cold (empty execution cache, every lesson executed) | {r['cold']:.1f} | 900 |",
            f"| warm (nothing changed) | {r['warm']:.1f} | 30 |",
            *(
                [
                    f"| one lesson changed ({r['changed_lesson']}) | {r['one_lesson']:.1f} | |",
                    "",
                    "Executed in the warm rebuild: "
                    + (", ".join(n for n, _ in r.get("warm_executed", [])) or "nothing")
                    + ". Executed after one lesson changed: "
                    + (", ".join(n for n, _ in r.get("one_lesson_executed", [])) or "nothing")
                    + " (the results page re-executes on every build to read the new numbers).",
                ]
                if "one_lesson" in r
                else []
            ),
            "",
            "Each lesson's execution inside the cold build:",
            "",
            "| notebook | seconds | budget |",
            "|---|---:|---:|",
            *[
                f"| {name} | {sec:.1f} | {BUDGETS.get(name, DEFAULT_BUDGET):.0f} |"
                for name, sec in r.get("executed", [])
            ],
            "",
        ]
    if "grading" in results:
        r = results["grading"]
        n = r["n"]
        lines += [
            f"## Grading throughput ({n} generated submissions of 01-data-and-profiles)",
            "",
            f"Measured {r['when']} on {r['machine']}. A third of the submissions are complete, "
            "a third half done, a third untouched.",
            "",
            "| grader | seconds | submissions per minute |",
            "|---|---:|---:|",
            f"| `course grade --workers 2` (sandboxed, tamper checks) | {r['course']:.1f} | "
            f"{60 * n / r['course']:.1f} |",
            f"| plain sequential `nbgrader autograde` (no sandbox) | {r['plain']:.1f} | "
            f"{60 * n / r['plain']:.1f} |",
            "",
            r.get("note", ""),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=["lessons", "book", "grading"],
        help="measure these sections only (the others keep their last results)",
    )
    sections = parser.parse_args(argv).only or ["lessons", "book", "grading"]
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.is_file() else {}
    load = os.getloadavg()[0]
    stamp = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_machine()}; load average {load:.1f} at the start",
    }
    with tempfile.TemporaryDirectory(prefix="ecomrec-bench-") as tmp:
        if "grading" in sections:
            results["grading"] = stamp | time_grading(Path(tmp) / "grading")
        if "lessons" in sections:
            results["lessons"] = stamp | {"rows": time_lessons(Path(tmp) / "lessons")}
        if "book" in sections:
            results["book"] = stamp | time_book(Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    RESULTS_JSON.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (ROOT / "benchmarks" / "RESULTS.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
