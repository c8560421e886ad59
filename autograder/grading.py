"""Release, grade in parallel, export and feed back: what the `course` command does.

Grading runs `workers` long-lived worker processes (`autograder.worker --serve`) that take
the students one after another, or sends each student to a Dask cluster's workers
(`autograder.cluster`), which run the same worker processes. The trusted side (nbgrader,
the gradebook) never runs student code; each student gets a fresh sandboxed kernel. A
worker builds the feedback of each student it grades, then writes the student's result,
last and atomically, so a killed run, started again, grades only the students without one,
whose submission changed, or whose scores are not in the gradebook in use, unless `force`.
"""

from __future__ import annotations

import csv
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from tqdm.auto import tqdm

from autograder.course import CoursePaths, nbgrader_config, tools_path
from autograder.limits import GradingLimits
from autograder.worker import (
    build_feedback,
    gradebook_key,
    job,
    load_result,
    missing_scores,
    result_path,
    submission_digest,
    test_ids,
    write_result,
)


class CourseError(RuntimeError):
    """A problem the instructor can fix; the message says how."""


# ----------------------------------------------------------------------------- release
def _strip_volatile(path: Path) -> None:
    """Rewrite a generated notebook in nbformat's canonical form (sorted keys, 1-space indent)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def generate(slug: str, paths: CoursePaths, release_dir: Path, db_url: str | None = None) -> None:
    """Run nbgrader generate_assignment for `slug` into `release_dir` (and the gradebook)."""
    if not paths.source_notebooks(slug):
        known = ", ".join(sorted(p.name for p in paths.solutions.iterdir())) or "none"
        raise CourseError(f"no source notebook in solutions/{slug}/ (assignments: {known})")
    stamp = _generated_stamp(slug, paths, db_url)
    cfg = nbgrader_config(paths, db_url)
    cfg.CourseDirectory.release_directory = str(release_dir)
    api = NbGraderAPI(config=cfg)
    result = api.generate_assignment(slug, force=True, create=True)
    if not result.get("success"):
        raise CourseError(
            f"nbgrader generate_assignment {slug} failed:\n{result.get('log', '')}"
            f"\n{result.get('error', '')}"
        )
    for nb in sorted((release_dir / slug).glob("*.ipynb")):
        _strip_volatile(nb)
    _write_stamp(paths, slug, stamp)  # the gradebook's entries are current


def release(slug: str, paths: CoursePaths, db_url: str | None = None) -> list[Path]:
    """Regenerate exercises/<slug>/ from solutions/<slug>/; returns the files that changed."""
    with tempfile.TemporaryDirectory(prefix="ecomrec-release-") as tmp:
        generate(slug, paths, Path(tmp), db_url)
        fresh, target = Path(tmp) / slug, paths.exercises / slug
        changed = []
        for src in sorted(p for p in fresh.rglob("*") if p.is_file()):
            dest = target / src.relative_to(fresh)
            if not dest.is_file() or dest.read_bytes() != src.read_bytes():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
                changed.append(dest)
        expected = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        for old in sorted(p for p in target.rglob("*") if p.is_file()):
            if old.relative_to(target) not in expected:
                old.unlink()
                changed.append(old)
    return changed


def release_drift(slug: str, paths: CoursePaths, db_url: str | None = None) -> list[str]:
    """Files of exercises/<slug>/ that differ from a fresh release (empty when in sync)."""
    with tempfile.TemporaryDirectory(prefix="ecomrec-release-") as tmp:
        generate(slug, paths, Path(tmp), db_url)
        fresh, target = Path(tmp) / slug, paths.exercises / slug
        names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        names |= {p.relative_to(target) for p in target.rglob("*") if p.is_file()}
        return sorted(
            str(n)
            for n in names
            if not (fresh / n).is_file()
            or not (target / n).is_file()
            or (fresh / n).read_bytes() != (target / n).read_bytes()
        )


# ------------------------------------------------------------------------------- grade
@dataclass
class GradeSettings:
    workers: int = os.cpu_count() or 1
    limits: GradingLimits = field(default_factory=GradingLimits)
    force: bool = False
    db_url: str | None = None
    progress: bool = True
    cluster: str | None = None  # a Dask scheduler's address: grade on its workers


def students_in(submissions: Path, slug: str) -> list[str]:
    if not submissions.is_dir():
        raise CourseError(f"submissions folder {submissions} does not exist")
    students = sorted(
        p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith(".")
    )
    if not students:
        raise CourseError(
            f"no student folders in {submissions} (expected "
            f"{submissions}/<student_id>/{slug}/*.ipynb)"
        )
    return students


def check_folders(submissions: Path, out: Path, paths: CoursePaths, cfg) -> None:
    """Refuse folders that would make grading write into the submissions (or read its own
    output as submissions). Grading nbgrader's `submitted` folder in place is fine: it is
    only read."""
    written = {
        "nbgrader's autograded folder": Path(cfg.CourseDirectory.autograded_directory),
        "nbgrader's feedback folder": Path(cfg.CourseDirectory.feedback_directory),
        "the grading state folder": paths.state,
        "the logs folder": paths.workdir / "logs",
        "the --out folder": out,
    }
    for what, folder in written.items():
        folder = folder.resolve()
        if submissions.is_relative_to(folder):
            raise CourseError(
                f"the submissions folder {submissions} is inside {what} {folder}, which "
                "course grade rewrites: copy the submissions elsewhere first"
            )
        if folder.is_relative_to(submissions):
            raise CourseError(
                f"{what} {folder} is inside the submissions folder {submissions}: "
                "choose an --out (or --workdir) outside it"
            )


class GradingProcess:
    """One long-lived worker process (`python -m autograder.worker --serve`) and its jobs.

    A worker that dies, or takes longer than a job's limit (then it is killed with its
    kernels), is started afresh for the next job; the student it was grading is recorded,
    not lost."""

    def __init__(self, root: Path, log: Path):
        self.root, self.log = root, log
        self.proc: subprocess.Popen | None = None
        self._buffer = b""
        self._pending = 0  # replies to warm-up requests not read yet
        self.used = False  # it was given a student

    def warm(self, spec: dict) -> None:
        """Start the worker and let it warm up (its zygote, nbgrader's imports) while this
        process does something else; the reply is read before the first job's."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(spec | {"warm": True}) + "\n").encode())
            self.proc.stdin.flush()
            self._pending += 1
        except BrokenPipeError:  # the first job starts a new worker
            self._reap()

    def _start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("a") as stderr:  # the worker's own messages, between jobs
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.worker", "--serve"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=self.root,
                env=dict(os.environ, PYTHONPATH=str(self.root), PATH=tools_path()),
                start_new_session=True,  # its own process group: a kill takes its kernels too
            )
        self._buffer = b""
        self._pending = 0

    def run(self, spec: dict, timeout: float) -> int | str | None:
        """Grade one job: None when the worker says it is done, else why not (an exit code,
        "timeout" or "error")."""
        self.used = True
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(spec) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self._reap()
        deadline = time.monotonic() + timeout
        while self._pending:  # the warm-up's reply (it failing only costs speed)
            answer = self._reply(deadline)
            if not isinstance(answer, dict):
                return answer
            self._pending -= 1
        answer = self._reply(deadline)
        if not isinstance(answer, dict):
            return answer
        return None if answer.get("ok") else "error"

    def _reply(self, deadline: float) -> dict | int | str:
        """The worker's next reply line, or why there is none (an exit code, "timeout")."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return "timeout"
            if select.select([fd], [], [], remaining)[0]:
                chunk = os.read(fd, 65536)
                if not chunk:  # the worker died during the job
                    return self._reap()
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def _reap(self) -> int:
        assert self.proc is not None
        code = self.proc.wait()
        self.proc = None
        return code

    def kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap()

    def end_input(self) -> None:
        """Tell the worker there is nothing more: it stops at the end of its input."""
        if self.proc is not None and not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except OSError:  # it is already gone; `close` reaps it
                pass

    def close(self) -> None:
        """Let the worker finish, then reap it."""
        if self.proc is None:
            return
        try:
            self.end_input()
            self.proc.wait(timeout=60)
            self.proc = None
        except (OSError, subprocess.TimeoutExpired):
            self.kill()


def _current(result: dict | None, digest: str, db_url: str) -> bool:
    """A cached result still describes this submission, graded into this gradebook."""
    return (
        result is not None
        and result.get("digest") == digest
        and result.get("gradebook") == gradebook_key(db_url)
    )


def failed_result(
    slug: str, student: str, submissions: Path, db_url: str, status: str, reason: str
) -> dict:
    """The result of a student whose grading itself failed (written so the run goes on)."""
    return {
        "student_id": student,
        "assignment": slug,
        "status": status,
        "reason": reason,
        "digest": submission_digest(submissions / student / slug),
        "gradebook": gradebook_key(db_url),
        "seconds": None,
    }


def grade_one(
    process: GradingProcess,
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    s: GradeSettings,
    n_notebooks: int,
    db_url: str,
) -> dict:
    """One student on one worker process: what both `--workers` and `--cluster` run.

    A worker that dies, fails or hangs is recorded as the student's result, not fatal."""
    log = paths.logs_dir(slug) / f"{student}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    launched = time.time()
    spec = job(slug, student, submissions, paths, s.limits, s.db_url, log)
    code = process.run(spec, timeout=s.limits.process_seconds(n_notebooks))
    result = load_result(paths, slug, student)
    digest = submission_digest(submissions / student / slug)
    written = result_path(paths, slug, student)
    fresh = written.is_file() and written.stat().st_mtime >= launched - 1
    if code is not None or not fresh or not _current(result, digest, db_url):
        if code == "timeout":
            status, why = "timeout", "grading took longer than its limit"
        elif code == "error":
            status, why = "crashed", f"grading failed; see {log}"
        else:
            status, why = "crashed", f"the grading process failed (exit {code}); see {log}"
        result = failed_result(slug, student, submissions, db_url, status, why)
        write_result(paths, result)
    return result


def start_workers(
    slug: str, submissions: Path, paths: CoursePaths, s: GradeSettings, n: int
) -> list[GradingProcess]:
    """`n` worker processes, each already warming up (see `autograder.worker.warm_up`)."""
    processes = []
    for i in range(max(1, n)):
        process = GradingProcess(paths.root, paths.logs_dir(slug) / f"worker-{i}.log")
        log = paths.logs_dir(slug) / f"worker-{i}-warm-up.log"
        process.warm(job(slug, "", submissions, paths, s.limits, s.db_url, log))
        processes.append(process)
    return processes


def _grade_locally(
    todo: list[str],
    grade_student: Callable[[GradingProcess, str], dict],
    processes: list[GradingProcess],
    on_result: Callable[[str, dict], None],
) -> None:
    """The worker processes take the students one after another."""
    jobs: queue.SimpleQueue[str] = queue.SimpleQueue()
    for student in todo:
        jobs.put(student)
    done: queue.SimpleQueue[tuple[str, dict]] = queue.SimpleQueue()

    def work(process: GradingProcess) -> None:
        while True:
            try:
                student = jobs.get_nowait()
            except queue.Empty:
                return
            done.put((student, grade_student(process, student)))

    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        loops = [pool.submit(work, process) for process in processes]
        received = 0
        while received < len(todo):
            try:
                student, result = done.get(timeout=0.5)
            except queue.Empty:
                failed = [f for f in loops if f.done() and f.exception()]
                if failed:  # a bug in the grader itself, not a student's problem
                    while not jobs.empty():
                        jobs.get_nowait()
                    raise RuntimeError("a grading thread failed") from failed[0].exception()
                continue
            received += 1
            on_result(student, result)


def grade(
    slug: str, submissions: Path, out: Path, paths: CoursePaths, settings: GradeSettings
) -> list[dict]:
    """Grade every student's submission of `slug`; write feedback and grades.csv to `out`.

    Reads the submissions only: whatever folder is passed, nothing in it is written,
    moved or deleted."""
    submissions = submissions.resolve()
    students = students_in(submissions, slug)
    n_notebooks = len(paths.release_notebooks(slug))
    if n_notebooks == 0:
        raise CourseError(f"exercises/{slug}/ has no notebook: run `course release {slug}`")
    cfg = nbgrader_config(paths, settings.db_url)
    check_folders(submissions, out, paths, cfg)
    # local workers warm up (a second or two each) while the gradebook is brought up to date
    processes = (
        []
        if settings.cluster
        else start_workers(slug, submissions, paths, settings, min(settings.workers, len(students)))
    )
    try:
        return _grade(slug, submissions, out, paths, settings, students, n_notebooks, processes)
    finally:
        for process in processes:  # every worker told first, so they all exit at once
            if process.used:
                process.end_input()
            else:  # nobody left to grade for it: no need to let it finish warming up
                process.kill()
        for process in processes:
            process.close()


def _grade(
    slug: str,
    submissions: Path,
    out: Path,
    paths: CoursePaths,
    settings: GradeSettings,
    students: list[str],
    n_notebooks: int,
    processes: list[GradingProcess],
) -> list[dict]:
    cfg = nbgrader_config(paths, settings.db_url)
    db_url = str(cfg.CourseDirectory.db_url)
    update_gradebook(slug, paths, settings.db_url)
    tests = test_ids(paths.release_notebooks(slug))
    todo = []
    with Gradebook(db_url) as gb:
        for student in students:
            done = load_result(paths, slug, student)
            current = submission_digest(submissions / student / slug)
            if (
                settings.force
                or not _current(done, current, db_url)
                or missing_scores(gb, slug, student, tests)
            ):
                todo.append(student)
    # the biggest submissions first (they tend to run longest), so a run does not end with
    # one worker busy on a long notebook while the others have nothing left
    todo.sort(key=lambda student: -_notebook_bytes(submissions / student / slug))
    results: dict[str, dict] = {}
    started = time.monotonic()
    bar = tqdm(
        total=len(todo), desc=f"grading {slug}", unit="student", disable=not settings.progress
    )

    def on_result(student: str, result: dict) -> None:
        results[student] = result
        bar.update()

    workers = settings.workers
    if settings.cluster:
        from autograder.cluster import grade_on_cluster

        workers = grade_on_cluster(
            settings.cluster,
            slug,
            todo,
            submissions,
            paths,
            settings,
            n_notebooks,
            db_url,
            on_result,
        )
    elif todo:

        def one(process: GradingProcess, student: str) -> dict:
            return grade_one(
                process, slug, student, submissions, paths, settings, n_notebooks, db_url
            )

        _grade_locally(todo, one, processes[: len(todo)], on_result)
    bar.close()
    seconds = time.monotonic() - started
    rows = [results.get(s) or load_result(paths, slug, s) for s in students]
    out.mkdir(parents=True, exist_ok=True)
    table = export_grades(slug, rows, out / "grades.csv", paths, settings.db_url)
    _copy_feedback(slug, rows, out, paths, settings.db_url)
    (out / "grading-run.json").write_text(
        json.dumps(
            {
                "assignment": slug,
                "students": len(students),
                "graded_now": len(todo),
                "workers": workers,
                "cluster": settings.cluster,
                "seconds": round(seconds, 2),
                "profile": _profile([results[s] for s in todo if s in results]),
            },
            indent=1,
        )
    )
    return table


def update_gradebook(slug: str, paths: CoursePaths, db_url: str | None = None) -> bool:
    """Bring the gradebook's entries for `slug` up to date with solutions/<slug>/ (nbgrader
    generate_assignment, about a CPU-second), unless they already are: True if it ran."""
    with _gradebook_lock(paths):
        if _read_stamp(paths, slug) == _generated_stamp(slug, paths, db_url) and _gradebook_has(
            str(nbgrader_config(paths, db_url).CourseDirectory.db_url), slug, paths
        ):
            return False
        generate(slug, paths, paths.state / "release", db_url)
        return True


def _generated_stamp(slug: str, paths: CoursePaths, db_url: str | None) -> str:
    """What nbgrader generate_assignment's gradebook entries for `slug` depend on: nbgrader's
    version, the course's nbgrader configuration (gradebook included) and every file of
    solutions/<slug>/. The same stamp as last time means the entries are current."""
    import hashlib

    import nbgrader

    digest = hashlib.sha256(nbgrader.__version__.encode())
    cfg = nbgrader_config(paths, db_url)
    digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    digest.update(submission_digest(paths.solutions / slug).encode())  # every file, hashed
    return digest.hexdigest()


def _stamp_path(paths: CoursePaths, slug: str) -> Path:
    return paths.state / "generated" / f"{slug}.sha256"


def _read_stamp(paths: CoursePaths, slug: str) -> str | None:
    path = _stamp_path(paths, slug)
    return path.read_text().strip() if path.is_file() else None


def _write_stamp(paths: CoursePaths, slug: str, stamp: str) -> None:
    path = _stamp_path(paths, slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(stamp + "\n")
    partial.replace(path)


def _gradebook_has(db_url: str, slug: str, paths: CoursePaths) -> bool:
    """The gradebook holds `slug` with every source notebook (it may have been replaced or
    edited since the stamp was written)."""
    with Gradebook(db_url) as gb:
        try:
            names = {nb.name for nb in gb.find_assignment(slug).notebooks}
        except MissingEntry:
            return False
    return names == {nb.stem for nb in paths.source_notebooks(slug)}


def _notebook_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.ipynb") if p.is_file())


def _profile(results: list[dict]) -> dict:
    """Seconds per graded student, by step, summed over this run (from the workers)."""
    total: dict[str, float] = {}
    for result in results:
        for step, seconds in result.get("profile", {}).items():
            total[step] = round(total.get(step, 0.0) + seconds, 3)
    return total


class _gradebook_lock:
    """Serialises gradebook schema writes between concurrent `course` runs (flock)."""

    def __init__(self, paths: CoursePaths):
        self.path = paths.state / "gradebook.lock"

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _copy_feedback(
    slug: str, rows: list[dict], out: Path, paths: CoursePaths, db_url: str | None
) -> None:
    """Copy each student's feedback pages from nbgrader's feedback folder (where the worker
    that graded them built them, see `autograder.worker.build_feedback`) to
    `out/feedback/<student>/`: the same pages by both routes. Pages are built here only for a
    student whose worker could not build them (it died or hung) or who has none yet."""
    cfg = nbgrader_config(paths, db_url)
    for row in rows:
        student = row["student_id"]
        nbgrader_dir = Path(cfg.CourseDirectory.feedback_directory) / student / slug
        built = row.get("profile", {}).get("feedback") is not None
        if not built or not list(nbgrader_dir.glob("*.html")):
            try:
                build_feedback(slug, row, paths, db_url)
            except RuntimeError as err:  # nbgrader's own failure, with its log
                raise CourseError(str(err)) from None
            write_result(paths, row | {"profile": row.get("profile", {}) | {"feedback": 0.0}})
        dest = out / "feedback" / student
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for page in sorted(nbgrader_dir.glob("*.html")):
            shutil.copyfile(page, dest / page.name)


def export_grades(
    slug: str, rows: list[dict], path: Path, paths: CoursePaths, db_url: str | None
) -> list[dict]:
    """grades.csv: one row per student, one column per graded question, then totals.

    A question not graded yet (a written answer before manual grading) is left empty and
    counts 0 in the total. A student whose autograded scores are not in the gradebook is
    never reported `ok`: their status becomes `not-in-gradebook` (a status that is already
    not `ok` stays, and the reason says what is missing)."""
    cfg = nbgrader_config(paths, db_url)
    url = str(cfg.CourseDirectory.db_url)
    tests = test_ids(paths.release_notebooks(slug))
    table = []
    with Gradebook(url) as gb:
        assignment = gb.find_assignment(slug)
        questions = [
            (nb.name, cell.name, cell.max_score)
            for nb in assignment.notebooks
            for cell in nb.grade_cells
        ]
        for row in rows:
            record = {"student_id": row["student_id"]}
            total = 0.0
            try:
                sub = gb.find_submission(slug, row["student_id"])
                scores = {
                    (g.notebook.name, g.name): g.score
                    for nb in sub.notebooks
                    for g in nb.grades
                    if g.auto_score is not None or g.manual_score is not None
                }
            except MissingEntry:
                scores = {}
            for nb_name, cell_name, _ in questions:
                score = scores.get((nb_name, cell_name))
                record[cell_name] = "" if score is None else round(float(score), 4)
                total += float(score or 0.0)
            record["total"] = round(total, 4)
            record["max_total"] = float(sum(q[2] for q in questions))
            record["status"] = row["status"]
            record["reason"] = row.get("reason", "")
            missing = missing_scores(gb, slug, row["student_id"], tests)
            if missing:
                note = (
                    f"the gradebook has no score for {len(missing)} autograded test(s) "
                    f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): "
                    "run `course grade` again"
                )
                if record["status"] == "ok":
                    record["status"], record["reason"] = "not-in-gradebook", note
                else:  # already not ok, with its own reason
                    record["reason"] = "; ".join(r for r in (record["reason"], note) if r)
            table.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        columns = [
            "student_id",
            *[q[1] for q in questions],
            "total",
            "max_total",
            "status",
            "reason",
        ]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(table)
    return table
