"""Grade one student's submission of one assignment (run by `course grade`, one process each).

Never modifies the submission: valid notebooks are copied into nbgrader's `submitted`
folder, and nbgrader grades the copies with the kernel sandboxed (see
`autograder.execute`). Whatever goes wrong in a student's notebook ends here as a
status and a reason; the result is written atomically, last, so a run killed midway
simply grades this student again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI

from autograder.course import CoursePaths, nbgrader_config

STATUSES = (
    "ok",
    "timeout",
    "memory",
    "crashed",
    "invalid-notebook",
    "missing-notebook",
    "tampered",
)


def submission_digest(folder: Path) -> str:
    """A hash of every file of a submission: a changed submission is graded again."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _cells_by_id(nb) -> dict[str, nbformat.NotebookNode]:
    return {
        c.metadata["nbgrader"]["grade_id"]: c
        for c in nb.cells
        if "grade_id" in c.get("metadata", {}).get("nbgrader", {})
    }


def inspect_submission(release: Path, submitted: Path) -> tuple[str | None, list[str]]:
    """Problems found before running anything: (status or None, reasons)."""
    if not submitted.is_file():
        found = sorted(p.name for p in submitted.parent.glob("*.ipynb"))
        where = f"found {', '.join(found)}" if found else "no notebook found"
        return "missing-notebook", [f"{release.name} is missing ({where}); keep the file name"]
    try:
        nb = nbformat.read(submitted, as_version=4)
        nbformat.validate(nb)
    except Exception as err:  # any parse or schema error means the same to the student
        first = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        return "invalid-notebook", [f"{release.name} is not a valid notebook ({first})"]
    reasons = []
    expected = _cells_by_id(nbformat.read(release, as_version=4))
    got = _cells_by_id(nb)
    for grade_id, cell in expected.items():
        meta = cell.metadata["nbgrader"]
        if grade_id not in got:
            if meta.get("locked"):
                reasons.append(f"cell {grade_id} was deleted; restored before grading")
            continue
        if meta.get("locked") and got[grade_id].source != cell.source:
            reasons.append(f"locked cell {grade_id} was edited; restored before grading")
    return ("tampered" if reasons else None), reasons


def _zero_scores(db_url: str, slug: str, student: str) -> None:
    """Record a submission that could not be run: every autograded question scores 0."""
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(slug, student)
        for nb in submission.notebooks:
            for grade in nb.grades:  # what nbgrader itself does for a missing notebook
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def grade_student(
    slug: str,
    student: str,
    submissions: Path,
    paths: CoursePaths,
    *,
    db_url: str | None = None,
    timeout: int = 120,
    wall: int = 600,
    memory_mb: int = 2048,
    sandbox: str = "bwrap",
) -> dict:
    started = time.monotonic()
    cfg = nbgrader_config(paths, db_url)
    source_dir = submissions / student / slug
    target = Path(cfg.CourseDirectory.submitted_directory) / student / slug
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    status_dir = paths.status_dir(slug, student)
    shutil.rmtree(status_dir, ignore_errors=True)

    statuses: list[str] = []
    reasons: list[str] = []
    runnable = 0
    for release in paths.release_notebooks(slug):
        status, why = inspect_submission(release, source_dir / release.name)
        if status:
            statuses.append(status)
        reasons += why
        if status not in ("missing-notebook", "invalid-notebook"):
            shutil.copy2(source_dir / release.name, target / release.name)
            runnable += 1
    if source_dir.is_dir():  # data files the student's code may read
        for path in source_dir.rglob("*"):
            if path.is_file() and path.suffix != ".ipynb":
                dest = target / path.relative_to(source_dir)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)

    if runnable == 0:
        _zero_scores(str(cfg.CourseDirectory.db_url), slug, student)
    else:
        cfg.Autograde.autograde_preprocessors = _autograde_preprocessors()
        cfg.SandboxedExecute.timeout = timeout
        cfg.SandboxedExecute.wall_seconds = wall
        cfg.SandboxedExecute.memory_mb = memory_mb
        cfg.SandboxedExecute.sandbox_mode = sandbox
        cfg.SandboxedExecute.status_dir = str(status_dir)
        cfg.SandboxedExecute.hidden_paths = [
            str(p)
            for p in (
                paths.solutions,
                paths.root / ".git",
                paths.workdir,
                submissions.resolve(),
                paths.root / "autograder",
            )
        ]
        api = NbGraderAPI(config=cfg)
        result = api.autograde(slug, student, force=True, create=True)
        if not result.get("success"):
            statuses.append("crashed")
            reasons.append("grading failed: " + _first_error(result))
            _zero_scores(str(cfg.CourseDirectory.db_url), slug, student)
        for status_file in sorted(status_dir.glob("*.json")):
            info = json.loads(status_file.read_text())
            if info["tampering"]:
                statuses.append("tampered")
                reasons += [f"{status_file.stem}: {t}" for t in info["tampering"]]
            events = info["events"]
            if "memory" in events:
                statuses.append("memory")
                reasons.append(f"{status_file.stem}: ran out of memory (limit {memory_mb} MB)")
            elif "dead" in events:
                statuses.append("crashed")
                reasons.append(f"{status_file.stem}: the kernel stopped (crash or os._exit)")
            if "timeout" in events or "wall" in events:
                statuses.append("timeout")
                limit = f"{timeout} s per cell, {wall} s per notebook"
                reasons.append(f"{status_file.stem}: a cell ran past the time limit ({limit})")

    order = ("tampered", "invalid-notebook", "missing-notebook", "memory", "timeout", "crashed")
    status = next((s for s in order if s in statuses), "ok")
    return {
        "student_id": student,
        "assignment": slug,
        "status": status,
        "reason": "; ".join(dict.fromkeys(reasons)),
        "digest": submission_digest(source_dir),
        "seconds": round(time.monotonic() - started, 2),
    }


def _first_error(result: dict) -> str:
    """The most telling line of a failed nbgrader run (the full log is in the worker's log)."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    print(text)  # into logs/<slug>/<student>.log
    lines = [ln.strip() for ln in text.splitlines()]
    for line in lines:
        if ("Error:" in line or "Exception:" in line) and "NbGraderException" not in line:
            return line[:300]
    return "unknown error (see the worker log)"


def _autograde_preprocessors() -> list:
    """nbgrader's autograde steps, with its Execute replaced by the sandboxed one."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    from autograder.execute import SandboxedExecute

    return [
        SandboxedExecute,
        IgnorePattern,
        ClearMetadataPreprocessor,
        LimitOutput,
        SaveAutoGrades,
        AssignLatePenalties,
        CheckCellMetadata,
    ]


def write_result(paths: CoursePaths, result: dict) -> Path:
    out = paths.results_dir(result["assignment"]) / f"{result['student_id']}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True))
    os.replace(tmp, out)  # atomic: a killed run never leaves half a result
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("slug")
    p.add_argument("student")
    p.add_argument("--submissions", type=Path, required=True)
    p.add_argument("--workdir", type=Path, required=True)
    p.add_argument("--db", default=None)
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--wall", type=int, default=600)
    p.add_argument("--memory", type=int, default=2048)
    p.add_argument("--sandbox", default="bwrap")
    a = p.parse_args(argv)
    paths = CoursePaths(workdir=a.workdir)
    result = grade_student(
        a.slug,
        a.student,
        a.submissions,
        paths,
        db_url=a.db,
        timeout=a.timeout,
        wall=a.wall,
        memory_mb=a.memory,
        sandbox=a.sandbox,
    )
    write_result(paths, result)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MissingEntry as err:
        print(f"error: {err}: run `course release` first", file=sys.stderr)
        sys.exit(2)
