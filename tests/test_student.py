"""What students get: `make lab`'s working copy (my-work/) and `make student-repo`'s repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.checks import find_leaks, public_text, secret_lines
from autograder.course import CoursePaths
from autograder.student import (
    INSTRUCTOR_ONLY,
    WORK_FOLDER,
    StudentCopyError,
    start_work,
    student_copy,
    tracked_files,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_start_work_copies_the_release_and_never_overwrites(tmp_path):
    paths = CoursePaths()
    work = tmp_path / WORK_FOLDER
    copied = start_work(paths, work)
    release = _files(paths.exercises)
    assert release, "exercises/ is empty"
    assert _files(work) == release
    assert sorted(str(p.relative_to(work)) for p in copied) == sorted(release)

    answered = work / next(iter(release))
    answered.write_text("a student's answers")
    missing = work / sorted(release)[-1]
    if missing != answered:
        missing.unlink()
    again = start_work(paths, work)
    assert answered.read_text() == "a student's answers", "a student's file was overwritten"
    assert again == ([] if missing == answered else [missing])
    assert start_work(paths, work) == []


def test_work_folder_is_git_ignored():
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", f"{WORK_FOLDER}/01/01.ipynb"], check=False
    )
    assert proc.returncode == 0, f"{WORK_FOLDER}/ is not in .gitignore"


@pytest.fixture(scope="module")
def student_repo(tmp_path_factory):
    """`make student-repo DEST=...`, with this environment's Python."""
    dest = tmp_path_factory.mktemp("student-repo") / "course"
    proc = subprocess.run(
        ["make", "student-repo", f"DEST={dest}", f"BIN={BIN}", "STAMP="],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


def test_student_repo_has_no_solutions_and_no_tests(student_repo):
    assert not (student_repo / "solutions").exists()
    assert not (student_repo / "tests").exists()
    for rel in _files(student_repo):
        assert not any(rel == p or rel.startswith(p) for p in INSTRUCTOR_ONLY), rel


def test_student_repo_has_no_solution_or_hidden_test_line(student_repo):
    """As `course check` judges a leak: a line written only inside an assignment's solution or
    hidden-test regions, and published nowhere else on purpose (lessons, other releases)."""
    paths = CoursePaths()
    slugs = sorted(p.parent.name for p in paths.solutions.glob("*/*.ipynb"))
    assert slugs
    found, total = [], 0
    for slug in slugs:
        secrets = set().union(*(secret_lines(nb) for nb in paths.source_notebooks(slug)))
        public = public_text(paths, exclude=paths.exercises / slug)
        secrets = {line for line in secrets if line not in public}
        total += len(secrets)
        found += [f"{slug}: {leak}" for leak in find_leaks(secrets, [student_repo])]
    assert total >= 100, f"only {total} secret lines: are the markers right?"
    assert not found, (
        f"{len(found)} solution or hidden-test lines in the student copy: {found[:10]}"
    )


def test_student_repo_has_the_lessons_exercises_and_tools(student_repo):
    copied = _files(student_repo)
    for folder in ("lessons", "exercises", "datasets", "ecomrec", "book"):
        expected = {
            str(f): (ROOT / f).read_bytes() for f in tracked_files(ROOT) if f.parts[0] == folder
        }
        assert expected, folder
        assert {k: v for k, v in copied.items() if k.split("/")[0] == folder} == expected, folder
    for name in ("README.md", "Makefile", "pyproject.toml", "autograder/nbgrader_config.py"):
        assert name in copied, name
    assert any(k.startswith("autograder/student-lab/") for k in copied), "no student lab config"
    assert not (student_repo / ".git").exists(), "the copy must not carry the history"


def test_student_copy_refuses_a_used_or_inner_folder(tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(StudentCopyError, match="not an empty folder"):
        student_copy(used)
    assert _files(used) == {"notes.txt": b"mine"}
    with pytest.raises(StudentCopyError, match="inside the course repository"):
        student_copy(ROOT / "student-copy")
    assert not (ROOT / "student-copy").exists()
