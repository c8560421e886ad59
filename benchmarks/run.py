"""`make bench`: time every lesson, the book builds and grading; write benchmarks/RESULTS.md.

Grading: 40 submissions of assignment 01 with `course grade --workers 2` against plain
sequential `nbgrader autograde`, with a per-submission profile; submissions per minute of
every assignment; `course grade --cluster` on a local Dask cluster of 1 and 2 workers.
`--submissions N` and `--per-assignment N` make the runs smaller, `--output DIR` writes
the results elsewhere (to try the script without replacing the recorded results).

Measured, never asserted: tests do not check wall time. Budgets (DESIGN.md): each lesson
at most 180 s (lesson 01: 120 s) and 3 GB; cold book build at most 15 min; warm rebuild
with nothing changed at most 30 s.
"""

from __future__ import annotations

import json
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


def _process_table() -> dict[tuple[int, str], tuple[int, float]]:
    """{(pid, start time): (parent pid, CPU seconds)} of every process in /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        # fields[0] is field 3 of proc(5): state; ppid, utime, stime, starttime follow
        ppid, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        table[(int(entry), fields[19])] = (ppid, cpu)
    return table


def _run_cpu(cmd: list[str], interval: float = 0.2, **kwargs) -> tuple[float, float]:
    """Wall seconds of one command, and the CPU seconds (user + system) of it and every
    process it starts, sampled from /proc every `interval` seconds.

    Sampled, because the kernels bubblewrap sandboxes are reaped outside the command's own
    process tree, so `getrusage` never counts them; a process's last `interval` and a process
    shorter than that are missed, so the figure is a slight underestimate. CPU seconds
    depend much less than wall seconds on what else the machine is doing."""
    start = time.perf_counter()
    # stderr to a file, not a pipe: a long log (nbgrader's, 40 students) would fill a pipe
    # nobody reads until the end, and the command would wait forever to write
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, **kwargs)
        seen: dict[tuple[int, str], float] = {}
        tree = {proc.pid}
        while proc.poll() is None:
            table = _process_table()
            grew = True
            while grew:  # descendants: children of anything already in the tree
                before = len(tree)
                tree |= {pid for (pid, _), (ppid, _) in table.items() if ppid in tree}
                grew = len(tree) > before
            for key, (_, cpu) in table.items():
                if key[0] in tree:
                    seen[key] = cpu
            time.sleep(interval)
        seconds = time.perf_counter() - start
        log.seek(0)
        stderr = log.read()
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=stderr)
    return seconds, sum(seen.values())


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


def _course_grade(tmp: Path, slug: str, subs: Path, name: str, *options: str) -> dict:
    """One `course grade` run as an instructor starts it: wall and CPU seconds, its profile.

    Its gradebook already holds the assignment, as after `course release` or nbgrader's
    generate_assignment (done untimed for plain nbgrader too): creating a gradebook runs
    `alembic heads` in a new process, about 3 s paid once per course, not per grading run."""
    from autograder.course import CoursePaths
    from autograder.grading import generate

    work = tmp / f"{name}-work"
    generate(slug, CoursePaths(workdir=work), work / "state" / "release")
    out = tmp / f"{name}-out"
    cmd = [
        *(str(BIN / "course"), "--workdir", str(work), "grade", slug),
        *("--submissions", str(subs), "--out", str(out), *options),
    ]
    seconds, cpu = _run_cpu(cmd)
    run = json.loads((out / "grading-run.json").read_text())
    return {"seconds": seconds, "cpu": cpu, "profile": run["profile"], "n": run["graded_now"]}


def import_profile() -> dict:
    """Seconds to import `autograder.worker` in a fresh process (`python -X importtime`), and
    the slowest modules it pulls in."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import autograder.worker"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((parts[2], int(parts[1]) / 1e6))
    total = dict(rows)["autograder.worker"]
    top = {}
    for name, seconds in rows:  # top-level packages, by cumulative time
        if "." not in name.strip() and name.strip() != "autograder":
            top[name.strip()] = max(top.get(name.strip(), 0.0), seconds)
    slowest = sorted(top.items(), key=lambda kv: -kv[1])[:5]
    return {"seconds": total, "slowest": [[n, round(s, 3)] for n, s in slowest]}


def _plain_autograde(tmp: Path, slug: str, subs: Path, name: str) -> tuple[float, float]:
    """Plain sequential `nbgrader autograde` (no sandbox) with the same course configuration,
    in its own work folder: wall and CPU seconds."""
    work = tmp / f"{name}-work"
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
        f"--CourseDirectory.release_directory={tmp / f'{name}-release'}",
    ]
    subprocess.run(release, cwd=ROOT, env=env, check=True, capture_output=True)
    shutil.copytree(subs, work / "submitted")
    return _run_cpu([str(BIN / "nbgrader"), "autograde", slug, "--force"], env=env)


def time_grading(
    tmp: Path, slug: str = "01-data-and-profiles", n: int = 40, repeats: int = 2
) -> dict:
    """`course grade --workers 2` against plain sequential `nbgrader autograde`, `repeats`
    times each, alternated (so a slower spell of the machine hits both); then once with
    `--cold-kernels`, to show what warm kernels buy. With the per-submission profiles."""
    subs = tmp / "submissions"
    make_submissions(subs, slug, n)
    course, plain = [], []
    for r in range(repeats):
        course.append(_course_grade(tmp, slug, subs, f"course{r}", "--workers", "2"))
        plain.append(_plain_autograde(tmp, slug, subs, f"plain{r}"))
        print(
            f"grading {n} submissions: course grade --workers 2 {course[-1]['seconds']:.1f} s "
            f"({course[-1]['cpu']:.1f} CPU-s), nbgrader autograde {plain[-1][0]:.1f} s "
            f"({plain[-1][1]:.1f} CPU-s)"
        )
    cold = _course_grade(tmp, slug, subs, "cold", "--workers", "2", "--cold-kernels")
    print(f"course grade --workers 2 --cold-kernels: {cold['seconds']:.1f} s")
    return {
        "n": n,
        "course_runs": [c["seconds"] for c in course],
        "course_cpu_runs": [c["cpu"] for c in course],
        "plain_runs": [p[0] for p in plain],
        "plain_cpu_runs": [p[1] for p in plain],
        "cold": cold["seconds"],
        "cold_cpu": cold["cpu"],
        "profile": {step: s / n for step, s in course[-1]["profile"].items()},
        "cold_profile": {step: s / n for step, s in cold["profile"].items()},
        "imports": import_profile(),
    }


def time_assignments(tmp: Path, n: int) -> list[list]:
    """Submissions per minute of every assignment with `course grade --workers 2`."""
    from autograder.course import assignments

    rows = []
    for slug in assignments():
        subs = tmp / slug / "submissions"
        make_submissions(subs, slug, n)
        run = _course_grade(tmp / slug, slug, subs, "course", "--workers", "2")
        rows.append([slug, n, run["seconds"], run["cpu"]])
        print(f"{slug}: {n} submissions in {run['seconds']:.1f} s ({run['cpu']:.1f} CPU-s)")
    return rows


def time_environment(days: int = 14, repeats: int = 3) -> list[list]:
    """Impressions per CPU second of the simulated shop, per policy, in a fresh process."""
    script = ROOT / "benchmarks" / "environment_speed.py"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, str(script), "--json", "--days", str(days), "--repeats", str(repeats)],
        capture_output=True, text=True, check=True, env=env, cwd=ROOT,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_dask(tmp: Path, n: int, slug: str = "01-data-and-profiles") -> list[list]:
    """`course grade --cluster` on a local Dask cluster of 1, then 2 worker processes."""
    from distributed import LocalCluster

    subs = tmp / "submissions"
    make_submissions(subs, slug, n)
    rows = []
    for workers in (1, 2):
        with LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster:
            run = _course_grade(
                tmp, slug, subs, f"dask{workers}", "--cluster", cluster.scheduler_address
            )
        # the Dask workers are the cluster's processes, not the command's: wall time only
        rows.append([workers, n, run["seconds"]])
        print(f"dask, {workers} worker(s): {n} submissions in {run['seconds']:.1f} s")
    return rows


RESULTS_JSON = ROOT / "benchmarks" / "results.json"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


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
        course, plain = _mean(r["course_runs"]), _mean(r["plain_runs"])
        pairs = [b / a for a, b in zip(r["course_runs"], r["plain_runs"], strict=True)]
        runs = ", ".join(
            f"{a:.1f} s against {b:.1f} s"
            for a, b in zip(r["course_runs"], r["plain_runs"], strict=True)
        )
        lines += [
            f"## Grading throughput ({n} generated submissions of 01-data-and-profiles)",
            "",
            f"Measured {r['when']} on {r['machine']}. A third of the submissions are complete, "
            "a third half done, a third untouched. Each grader ran "
            f"{len(r['course_runs'])} times, alternately; the table gives the means.",
            "",
            "| grader | seconds | submissions per minute | CPU seconds |",
            "|---|---:|---:|---:|",
            f"| `course grade --workers 2` (sandboxed, tamper checks, feedback, warm kernels) "
            f"| {course:.1f} | {60 * n / course:.1f} | {_mean(r['course_cpu_runs']):.1f} |",
            f"| `course grade --workers 2 --cold-kernels` (a new Python per kernel) "
            f"| {r['cold']:.1f} | {60 * n / r['cold']:.1f} | {r['cold_cpu']:.1f} |",
            f"| plain sequential `nbgrader autograde` (no sandbox, no feedback) "
            f"| {plain:.1f} | {60 * n / plain:.1f} | {_mean(r['plain_cpu_runs']):.1f} |",
            "",
            f"Speed-up over plain `nbgrader autograde`: {plain / course:.2f}x (runs: {runs}; "
            f"{min(pairs):.2f}x to {max(pairs):.2f}x run by run). The course's bar is 3x.",
            "",
            "CPU seconds are sampled from /proc every 0.2 s, so they miss each process's last "
            "fraction of a second: a slight underestimate, more so for many short processes.",
            "",
        ]
        p, c, imports = r["profile"], r["cold_profile"], r["imports"]
        steps = (
            ("stage", "stage the copy, check the notebooks"),
            ("kernel_start", "start the sandboxed kernel (fork from the zygote, or cold)"),
            ("notebook", "run the notebook (guards, hidden tests) and clean up after it"),
            ("autograde", "nbgrader autograde in all (kernel and notebook included)"),
            ("feedback", "build the student's feedback page"),
        )
        lines += [
            "### Per-submission profile (`course grade --workers 2`, mean seconds per submission)",
            "",
            "| step | warm kernels | `--cold-kernels` |",
            "|---|---:|---:|",
            f"| import `autograder.worker` in a fresh process (once per worker, "
            f"not per submission) | {imports['seconds']:.2f} | {imports['seconds']:.2f} |",
            *(
                f"| {label} | {p.get(key, 0):.2f} | {c.get(key, 0):.2f} |"
                for key, label in steps
                if key in p
            ),
            "",
            "Slowest imports of `autograder.worker` (cumulative seconds): "
            + ", ".join(f"{name} {s:.2f}" for name, s in imports["slowest"])
            + ".",
            "",
        ]
    if "grading_assignments" in results:
        r = results["grading_assignments"]
        lines += [
            "## Grading throughput per assignment (`course grade --workers 2`)",
            "",
            f"Measured {r['when']} on {r['machine']}.",
            "",
            "| assignment | submissions | seconds | submissions per minute | CPU seconds |",
            "|---|---:|---:|---:|---:|",
            *(
                f"| {slug} | {n} | {s:.1f} | {60 * n / s:.1f} | {c:.1f} |"
                for slug, n, s, c in r["rows"]
            ),
            "",
        ]
    if "grading_dask" in results:
        r = results["grading_dask"]
        base = r["rows"][0][2]
        lines += [
            "## Grading on a local Dask cluster (`course grade --cluster`, 01-data-and-profiles)",
            "",
            f"Measured {r['when']} on {r['machine']}. One worker process per Dask worker, one "
            "thread each.",
            "",
            "| Dask workers | submissions | seconds | submissions per minute | speed-up |",
            "|---:|---:|---:|---:|---:|",
            *(
                f"| {w} | {n} | {s:.1f} | {60 * n / s:.1f} | {base / s:.2f}x |"
                for w, n, s in r["rows"]
            ),
            "",
        ]
    if "environment" in results:
        r = results["environment"]
        lines += [
            "## The simulated shop (`benchmarks/environment_speed.py`, lesson 08's environment)",
            "",
            f"Measured {r['when']} on {r['machine']}. Every user for 14 simulated days, slates of "
            "10, one thread; CPU time of `ShopEnvironment.run` only, best of 3. The course's bar: "
            "10,000 impressions per CPU-second on one core.",
            "",
            "| policy | impressions | CPU seconds | impressions per CPU-second |",
            "|---|---:|---:|---:|",
            *(f"| {name} | {n:,} | {s:.2f} | {n / s:,.0f} |" for name, n, s in r["rows"]),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=[
            "lessons",
            "book",
            "grading",
            "grading-assignments",
            "grading-dask",
            "environment",
        ],
        help="measure these sections only (the others keep their last results)",
    )
    parser.add_argument(
        "--submissions", type=int, default=40, help="submissions of 01 for the grading sections"
    )
    parser.add_argument(
        "--per-assignment", type=int, default=6, help="submissions of each assignment"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=ROOT / "benchmarks",
        help="where results.json and RESULTS.md go (default benchmarks/; another folder to "
        "try the script without touching the recorded results)",
    )
    args = parser.parse_args(argv)
    sections = args.only or [
        "lessons",
        "book",
        "grading",
        "grading-assignments",
        "grading-dask",
        "environment",
    ]
    results = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.is_file() else {}
    load = os.getloadavg()[0]
    stamp = {
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_machine()}; load average {load:.1f} at the start",
    }
    with tempfile.TemporaryDirectory(prefix="ecomrec-bench-") as tmp:
        if "grading" in sections:
            results["grading"] = stamp | time_grading(Path(tmp) / "grading", n=args.submissions)
        if "grading-assignments" in sections:
            rows = time_assignments(Path(tmp) / "assignments", args.per_assignment)
            results["grading_assignments"] = stamp | {"rows": rows}
        if "grading-dask" in sections:
            rows = time_dask(Path(tmp) / "dask", args.submissions)
            results["grading_dask"] = stamp | {"rows": rows}
        if "environment" in sections:
            results["environment"] = stamp | {"rows": time_environment()}
        if "lessons" in sections:
            results["lessons"] = stamp | {"rows": time_lessons(Path(tmp) / "lessons")}
        if "book" in sections:
            results["book"] = stamp | time_book(Path(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (args.output / "RESULTS.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
