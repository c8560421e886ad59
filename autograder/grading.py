"""Release, grade in parallel, export and feed back: what the `course` command does.

Grading runs one worker process per student (`autograder.worker`), at most `workers` at a
time. The trusted side (nbgrader, the gradebook) never runs student code; each worker's
kernel is sandboxed. A student's result file is written last and atomically, so a
killed run, started again, grades only the students without one, whose submission
changed, or whose scores are not in the gradebook in use, unless `force`.
"""

from __future__ import annotations

import csv
import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from tqdm.auto import tqdm

from autograder.course import CoursePaths, nbgrader_config, tools_path
from autograder.feedback import status_banner
from autograder.limits import GradingLimits
from autograder.worker import (
    SECRET,
    TIMESTAMP,
    gradebook_key,
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
    limits: GradingLimits = field(default_factory=GradingLimits)
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
        "--limits",
        s.limits.to_json(),
    ]
    if s.db_url:
        cmd += ["--db", s.db_url]
    return cmd


def _current(result: dict | None, digest: str, db_url: str) -> bool:
    """A cached result still describes this submission, graded into this gradebook."""
    return (
        result is not None
        and result.get("digest") == digest
        and result.get("gradebook") == gradebook_key(db_url)
    )


def _run_worker(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    s: GradeSettings,
    n_notebooks: int,
    db_url: str,
) -> dict:
    """One student in its own process; a worker that dies or hangs is recorded, not fatal."""
    log = paths.logs_dir(slug) / f"{student}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(paths.root), PATH=tools_path())
    launched = time.time()
    with log.open("w") as out:
        try:
            proc = subprocess.run(
                _worker_cmd(slug, student, submissions, paths, s),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=s.limits.process_seconds(n_notebooks),
                cwd=paths.root,
                env=env,
                check=False,
            )
            code = proc.returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
    result = load_result(paths, slug, student)
    digest = submission_digest(submissions / student / slug)
    written = result_path(paths, slug, student)
    fresh = written.is_file() and written.stat().st_mtime >= launched - 1
    if not fresh or not _current(result, digest, db_url):
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
            "digest": digest,
            "gradebook": gradebook_key(db_url),
            "seconds": None,
        }
        write_result(paths, result)
    return result


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
    db_url = str(cfg.CourseDirectory.db_url)
    check_folders(submissions, out, paths, cfg)
    with _gradebook_lock(paths):
        generate(slug, paths, paths.state / "release", settings.db_url)  # gradebook entries
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
    results: dict[str, dict] = {}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, settings.workers)) as pool:
        futures = {
            pool.submit(_run_worker, slug, s, submissions, paths, settings, n_notebooks, db_url): s
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
    rows = [results.get(s) or load_result(paths, slug, s) for s in students]
    out.mkdir(parents=True, exist_ok=True)
    table = export_grades(slug, rows, out / "grades.csv", paths, settings.db_url)
    renames = {r["student_id"]: r.get("renames", {}) for r in rows}
    _write_feedback(slug, table, renames, out, paths, settings.db_url)
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
        self.path = paths.state / "gradebook.lock"

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
    rows: list[dict],
    renames: dict[str, dict[str, str]],
    out: Path,
    paths: CoursePaths,
    db_url: str | None,
) -> None:
    """Each student's feedback, in nbgrader's feedback folder (what `nbgrader release_feedback`
    sends) and copied to `out/feedback/<student>/`: the same pages, the grading status on top
    (added by `autograder.feedback.GradingStatus`, one of nbgrader's feedback steps).

    A student with nothing that could run gets one page saying so. A notebook graded under
    another name also gets its page under the name the student submitted, which is the
    name `nbgrader fetch_feedback` looks for."""
    cfg = nbgrader_config(paths, db_url)
    api = NbGraderAPI(config=cfg)
    release = paths.release_notebooks(slug)
    for row in rows:
        student = row["student_id"]
        nbgrader_dir = Path(cfg.CourseDirectory.feedback_directory) / student / slug
        autograded = Path(cfg.CourseDirectory.autograded_directory) / student / slug
        staged = paths.staging_dir(slug) / student / slug
        if list(autograded.glob("*.ipynb")):
            result = api.generate_feedback(slug, student, force=True)
            if not result.get("success"):
                raise CourseError(
                    f"nbgrader generate_feedback failed for {student}:\n{result.get('log', '')}"
                )
        else:
            shutil.rmtree(nbgrader_dir, ignore_errors=True)
            nbgrader_dir.mkdir(parents=True)
            for nb in release:
                (nbgrader_dir / f"{nb.stem}.html").write_text(
                    f"<html><body><h1>{slug}: feedback for {html.escape(student)}</h1>"
                    + status_banner(row["status"], row.get("reason", ""))
                    + "<p>Nothing could be run, so every autograded question scores 0.</p>"
                    "</body></html>"
                )
        for name in (TIMESTAMP, SECRET):  # release_feedback needs both beside the pages
            if not (nbgrader_dir / name).is_file() and (staged / name).is_file():
                shutil.copyfile(staged / name, nbgrader_dir / name)
        for expected, submitted in renames.get(student, {}).items():
            page = nbgrader_dir / f"{Path(expected).stem}.html"
            if page.is_file():
                shutil.copyfile(page, nbgrader_dir / f"{Path(submitted).stem}.html")
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
