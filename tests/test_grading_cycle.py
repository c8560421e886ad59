"""The instructor's cycle as the guide documents it, with nbgrader's own commands.

Release through the exchange, two students fetch and submit (each with their own cache,
as separate users), `nbgrader collect`, `course grade` on the collected folder (which it
must leave byte for byte unchanged), a manual grade entered through formgrader's own
handler and kept by `course grade --force`, `nbgrader generate_feedback` and
`release_feedback`, and each student fetching only their own feedback. Assignment 01,
the cheapest; the exchange is a temporary folder.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from formgrader import enter_manual_grade
from nbgrader import utils

from autograder.checks import perfect_submission
from autograder.course import CoursePaths, tools_path
from autograder.sandbox import bwrap_available

pytestmark = pytest.mark.grading  # tier: not in `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
SLUG = "01-data-and-profiles"
NOTEBOOK = f"{SLUG}.ipynb"
COURSE = "ecomrec"  # CourseDirectory.course_id in autograder/nbgrader_config.py


def _run(cmd: list[str], cwd: Path, env: dict) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(not (ROOT / "exercises" / SLUG / NOTEBOOK).is_file(), reason="no release")
def test_documented_cycle_through_the_exchange(tmp_path):
    work, exchange = tmp_path / "grading", tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # as on a shared machine: every user may write to the exchange
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("ECOMREC_")}
    base_env["PATH"] = tools_path()
    instructor = dict(
        base_env, JUPYTER_CONFIG_PATH=str(ROOT / "autograder"), ECOMREC_GRADER_WORKDIR=str(work)
    )
    on_exchange = [f"--Exchange.root={exchange}"]
    nbgrader = [sys.executable, "-m", "nbgrader"]

    # the instructor releases assignment 01 through the exchange
    course = [sys.executable, "-m", "autograder.cli"]
    _run([*course, "release", SLUG], ROOT, instructor)  # exercises/ is in sync: no change
    _run([*nbgrader, "release_assignment", SLUG, "--force", *on_exchange], ROOT, instructor)

    # two students, each in their own home with their own nbgrader cache and no course config
    answers = {
        "alice": perfect_submission(
            ROOT / "solutions" / SLUG / NOTEBOOK, ROOT / "exercises" / SLUG / NOTEBOOK
        ),
        "bob": None,  # submits the release untouched
    }
    homes = {}
    for student, answer in answers.items():
        home = tmp_path / "home" / student
        (home / ".jupyter").mkdir(parents=True)
        env = dict(base_env, HOME=str(home), JUPYTER_CONFIG_PATH=str(home / ".jupyter"))
        student_flags = [
            "--course",
            COURSE,
            *on_exchange,
            f"--Exchange.cache={home / 'cache'}",
            f"--student={student}",
        ]
        homes[student] = (home, env, student_flags)
        _run([*nbgrader, "fetch_assignment", SLUG, *student_flags[:-1]], home, env)
        fetched = home / SLUG / NOTEBOOK
        assert fetched.is_file()
        if answer is not None:
            nbformat.write(answer, fetched)
        _run([*nbgrader, "submit", SLUG, *student_flags], home, env)

    # the instructor collects into grading/submitted/ and grades that folder in place
    _run([*nbgrader, "collect", SLUG, *on_exchange], ROOT, instructor)
    submitted = work / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["alice", "bob"]
    before = _files(submitted)
    assert any(name.endswith("timestamp.txt") for name in before)
    mode = "bwrap" if bwrap_available() else "rlimit"
    grade = [*course, "grade", SLUG, "--submissions", str(submitted), "--sandbox", mode]
    _run(grade, ROOT, instructor)
    assert _files(submitted) == before, "course grade changed the collected submissions"
    grades_csv = CoursePaths(workdir=work).grades_dir(SLUG) / "grades.csv"
    with grades_csv.open() as handle:
        first = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert first["alice"]["status"] == first["bob"]["status"] == "ok"
    assert float(first["alice"]["total"]) == 10 and float(first["bob"]["total"]) == 0

    # a written answer graded in formgrader survives a forced regrade
    source = nbformat.read(ROOT / "solutions" / SLUG / NOTEBOOK, as_version=4)
    (written,) = [
        c.metadata.nbgrader["grade_id"]
        for c in source.cells
        if utils.is_grade(c) and utils.is_solution(c)
    ]
    db = f"sqlite:///{work / 'gradebook.db'}?timeout=120"
    enter_manual_grade(db, SLUG, "alice", SLUG, written, 2, "a clear answer")
    _run([*grade, "--force"], ROOT, instructor)
    assert _files(submitted) == before
    with grades_csv.open() as handle:
        again = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert float(again["alice"]["total"]) == 12 and float(again["alice"][written]) == 2

    # nbgrader's own feedback commands, then each student fetches their own feedback
    _run([*nbgrader, "generate_feedback", SLUG, "--force"], ROOT, instructor)
    _run([*nbgrader, "release_feedback", SLUG, *on_exchange], ROOT, instructor)
    own = {s: (work / "feedback" / s / SLUG / f"{SLUG}.html").read_bytes() for s in homes}
    assert own["alice"] != own["bob"]
    for student, (home, env, student_flags) in homes.items():
        _run([*nbgrader, "fetch_feedback", SLUG, *student_flags], home, env)
        pages = list((home / SLUG / "feedback").rglob("*.html"))
        assert len(pages) == 1, f"{student} fetched {[p.name for p in pages]}"
        assert pages[0].read_bytes() == own[student], f"{student} got someone else's feedback"
        assert "Grading status: ok" in pages[0].read_text()
        sent = CoursePaths(workdir=work).grades_dir(SLUG) / "feedback" / student / pages[0].name
        assert "Grading status: ok" in sent.read_text()
