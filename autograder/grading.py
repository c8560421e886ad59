"""Release, grade in parallel, export and feed back: what the `course` command does.

Grading runs one worker process per student (`autograder.worker`), at most `workers` at a
time. The trusted side (nbgrader, the gradebook) never runs student code; each worker's
kernel is sandboxed. A student's result file is written last and atomically, so a
killed run, started again, grades only the students without one (or whose submission
changed), unless `force`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from tqdm.auto import tqdm

from autograder.course import CoursePaths, nbgrader_config
from autograder.worker import submission_digest, write_result


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
    timeout: int = 120  # per cell, seconds
    wall: int = 600  # per notebook, seconds
    memory_mb: int = 2048
    sandbox: str = "bwrap"
    force: bool = False
    db_url: str | None = None
    progress: bool = True


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


def _load_result(paths: CoursePaths, slug: str, student: str) -> dict | None:
    path = paths.results_dir(slug) / f"{student}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _worker_cmd(
    slug: str, student: str, submissions: Path, paths: CoursePaths, s: GradeSettings
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "autograder.worker",
        slug,
        student,
        "--submissions",
        str(submissions),
        "--workdir",
        str(paths.workdir),
        "--timeout",
        str(s.timeout),
        "--wall",
        str(s.wall),
        "--memory",
        str(s.memory_mb),
        "--sandbox",
        s.sandbox,
    ]
    if s.db_url:
        cmd += ["--db", s.db_url]
    return cmd


def _run_worker(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    s: GradeSettings,
    n_notebooks: int,
) -> dict:
    """One student in its own process; a worker that dies or hangs is recorded, not fatal."""
    log = paths.workdir / "logs" / slug / f"{student}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    limit = (s.wall + 60) * max(1, n_notebooks) + 60
    env = dict(os.environ, PYTHONPATH=str(paths.root))
    with log.open("w") as out:
        try:
            proc = subprocess.run(
                _worker_cmd(slug, student, submissions, paths, s),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=limit,
                cwd=paths.root,
                env=env,
                check=False,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    result = _load_result(paths, slug, student)
    if result is None or result.get("digest") != submission_digest(submissions / student / slug):
        why = (
            "grading took longer than its limit"
            if code == "timeout"
            else f"the grading process failed (exit {code}); see {log}"
        )
        result = {
            "student_id": student,
            "assignment": slug,
            "status": "timeout" if code == "timeout" else "crashed",
            "reason": why,
            "digest": submission_digest(submissions / student / slug),
            "seconds": None,
        }
        write_result(paths, result)
    return result


def grade(
    slug: str, submissions: Path, out: Path, paths: CoursePaths, settings: GradeSettings
) -> list[dict]:
    """Grade every student's submission of `slug`; write feedback and grades.csv to `out`."""
    submissions = submissions.resolve()
    students = students_in(submissions, slug)
    n_notebooks = len(paths.release_notebooks(slug))
    if n_notebooks == 0:
        raise CourseError(f"exercises/{slug}/ has no notebook: run `course release {slug}`")
    with _gradebook_lock(paths):
        generate(slug, paths, paths.workdir / "release", settings.db_url)  # gradebook entries
    todo = []
    for student in students:
        done = _load_result(paths, slug, student)
        current = submission_digest(submissions / student / slug)
        if settings.force or done is None or done.get("digest") != current:
            todo.append(student)
    results: dict[str, dict] = {}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = {
            pool.submit(_run_worker, slug, s, submissions, paths, settings, n_notebooks): s
            for s in todo
        }
        bar = tqdm(
            total=len(todo), desc=f"grading {slug}", unit="student", disable=not settings.progress
        )
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            bar.update()
        bar.close()
    seconds = time.monotonic() - started
    rows = [results.get(s) or _load_result(paths, slug, s) for s in students]
    out.mkdir(parents=True, exist_ok=True)
    _write_feedback(slug, students, rows, out, paths, settings.db_url)
    table = export_grades(slug, rows, out / "grades.csv", paths, settings.db_url)
    (out / "grading-run.json").write_text(
        json.dumps(
            {
                "assignment": slug,
                "students": len(students),
                "graded_now": len(todo),
                "workers": settings.workers,
                "seconds": round(seconds, 2),
            },
            indent=1,
        )
    )
    return table


class _gradebook_lock:
    """Serialises gradebook schema writes between concurrent `course` runs (flock)."""

    def __init__(self, paths: CoursePaths):
        self.path = paths.workdir / "gradebook.lock"

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = self.path.open("w")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        self.handle.close()


def _write_feedback(
    slug: str,
    students: list[str],
    rows: list[dict],
    out: Path,
    paths: CoursePaths,
    db_url: str | None,
) -> None:
    """nbgrader's feedback HTML per student, with the grading status on top."""
    cfg = nbgrader_config(paths, db_url)
    api = NbGraderAPI(config=cfg)
    feedback_root = Path(cfg.CourseDirectory.feedback_directory)
    target = out / "feedback"
    for student, row in zip(students, rows, strict=True):
        dest = target / student
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        autograded = Path(cfg.CourseDirectory.autograded_directory) / student / slug
        pages = []
        if list(autograded.glob("*.ipynb")):
            api.generate_feedback(slug, student, force=True)
            pages = sorted((feedback_root / student / slug).glob("*.html"))
        banner = (
            f"<p><b>Grading status: {row['status']}</b>"
            + (f" — {_html(row['reason'])}" if row.get("reason") else "")
            + "</p>"
        )
        for page in pages:
            html = page.read_text()
            html = html.replace("<body>", "<body>" + banner, 1) if "<body>" in html else html
            (dest / page.name).write_text(html)
        if not pages:
            (dest / "feedback.html").write_text(
                f"<html><body><h1>{slug}: feedback for {student}</h1>{banner}"
                "<p>Nothing could be run, so every autograded question scores 0.</p>"
                "</body></html>"
            )


def _html(text: str) -> str:
    import html

    return html.escape(text)


def export_grades(
    slug: str, rows: list[dict], path: Path, paths: CoursePaths, db_url: str | None
) -> list[dict]:
    """grades.csv: one row per student, one column per graded question, then totals."""
    cfg = nbgrader_config(paths, db_url)
    table = []
    with Gradebook(str(cfg.CourseDirectory.db_url)) as gb:
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
                    (g.notebook.name, g.name): g.score for nb in sub.notebooks for g in nb.grades
                }
            except MissingEntry:
                scores = {}
            for nb_name, cell_name, _ in questions:
                score = scores.get((nb_name, cell_name)) or 0.0
                record[cell_name] = round(float(score), 4)
                total += float(score)
            record["total"] = round(total, 4)
            record["max_total"] = float(sum(q[2] for q in questions))
            record["status"] = row["status"]
            record["reason"] = row.get("reason", "")
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


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
