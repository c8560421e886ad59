"""`course grade` runs nbgrader generate_assignment only when the gradebook's entries for
the assignment are outdated (autograder.grading.update_gradebook)."""

from __future__ import annotations

import shutil
from pathlib import Path

from nbgrader.api import Gradebook

from autograder import grading
from autograder.course import CoursePaths, nbgrader_config

ROOT = Path(__file__).resolve().parents[1]
SLUG = "01-data-and-profiles"


def test_entries_are_generated_again_only_when_outdated(tmp_path):
    paths = CoursePaths(workdir=tmp_path / "work")
    assert grading.update_gradebook(SLUG, paths) is True, "a new gradebook gets its entries"
    assert grading.update_gradebook(SLUG, paths) is False, "nothing changed: no second run"

    db_url = str(nbgrader_config(paths, None).CourseDirectory.db_url)
    with Gradebook(db_url) as gb:
        gb.remove_assignment(SLUG)  # say, removed by hand in formgrader
    assert grading.update_gradebook(SLUG, paths) is True, "a gradebook without the assignment"
    with Gradebook(db_url) as gb:
        assert {nb.name for nb in gb.find_assignment(SLUG).notebooks} == {SLUG}

    other = tmp_path / "other.db"
    assert grading.update_gradebook(SLUG, paths, f"sqlite:///{other}") is True, "another one"
    assert grading.update_gradebook(SLUG, paths) is True, "the stamp was the other gradebook's"


def test_the_stamp_follows_every_source_file_and_the_gradebook(tmp_path):
    root = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / SLUG, root / "solutions" / SLUG)
    paths = CoursePaths(root=root, workdir=tmp_path / "work")
    before = grading._generated_stamp(SLUG, paths, None)
    assert grading._generated_stamp(SLUG, paths, None) == before
    assert grading._generated_stamp(SLUG, paths, "sqlite:////elsewhere.db") != before
    (root / "solutions" / SLUG / "data.csv").write_text("a,b\n")  # a file beside the notebook
    assert grading._generated_stamp(SLUG, paths, None) != before
