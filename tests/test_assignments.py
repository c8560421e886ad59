"""`course check` passes for every assignment: in sync, solution full marks, release zero,
no solution or hidden-test line in exercises/ or in the built site."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.checks import find_leaks, secret_lines
from autograder.course import CoursePaths, assignments

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_has_a_release():
    paths = CoursePaths()
    slugs = assignments(paths)
    assert "01-data-and-profiles" in slugs
    for slug in slugs:
        assert [p.name for p in paths.release_notebooks(slug)] == [
            p.name for p in paths.source_notebooks(slug)
        ], f"run `course release {slug}`"


def test_release_has_no_outputs_and_no_solutions():
    paths = CoursePaths()
    for slug in assignments(paths):
        for nb_path in paths.release_notebooks(slug):
            nb = nbformat.read(nb_path, as_version=4)
            for cell in nb.cells:
                assert "BEGIN SOLUTION" not in cell.source, nb_path
                assert "BEGIN HIDDEN TESTS" not in cell.source, nb_path
                if cell.cell_type == "code":
                    assert not cell.outputs, nb_path


def test_leak_finder_finds_a_planted_leak(tmp_path):
    source = ROOT / "solutions" / "01-data-and-profiles" / "01-data-and-profiles.ipynb"
    secrets = secret_lines(source)
    assert secrets, "the source has solution lines"
    planted = tmp_path / "page.html"
    planted.write_text("<pre>" + sorted(secrets)[0].replace("<", "&lt;") + "</pre>")
    assert find_leaks(secrets, [tmp_path])
    planted.write_text("<p>nothing to see</p>")
    assert not find_leaks(secrets, [tmp_path])


def test_a_hidden_line_that_is_part_of_a_public_line_is_not_secret(tmp_path):
    """The leak check searches pages for substrings; part of a visible line is public."""
    from nbformat.v4 import new_code_cell, new_notebook

    public = "model.add_(0.1 * torch.randn(shape, generator=jitter))"
    hidden = "0.1 * torch.randn(shape, generator=jitter)"
    answer = "return secret_formula(x) + 41"
    cell = new_code_cell(
        f"{public}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS\n"
        f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION"
    )
    path = tmp_path / "source.ipynb"
    nbformat.write(new_notebook(cells=[cell]), path)
    assert secret_lines(path) == {answer}


def test_lines_the_course_publishes_elsewhere_are_not_secrets(tmp_path):
    """A solution line that a lesson or another release shows is public; the own release is not."""
    from nbformat.v4 import new_code_cell, new_notebook

    from autograder.checks import public_text

    def notebook(path: Path, source: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(new_notebook(cells=[new_code_cell(source)]), path)

    notebook(tmp_path / "lessons" / "01-x.ipynb", "model.fit(split.train, data.n_items)")
    notebook(tmp_path / "exercises" / "01-x" / "01-x.ipynb", "shown_in_release_01 = 1")
    notebook(tmp_path / "exercises" / "02-y" / "02-y.ipynb", "leaked_answer_of_02 = 2")
    paths = CoursePaths(root=tmp_path, workdir=tmp_path / "work")
    public = public_text(paths, exclude=paths.exercises / "02-y")
    assert ".fit(split.train, data.n_items)" in public
    assert "shown_in_release_01" in public
    assert "leaked_answer_of_02" not in public, "the assignment's own release must stay checked"


def test_course_check(built_book, tmp_path):
    """The author's one command: every assignment grades correctly through the real path."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "autograder.cli",
            "--workdir",
            str(tmp_path / "work"),
            "check",
            "--site",
            str(built_book),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert " ok" in proc.stdout


def test_gradebook_url_can_point_anywhere(tmp_path, monkeypatch):
    """--db / ECOMREC_GRADEBOOK_URL take any SQLAlchemy URL (here a second SQLite file)."""
    from nbgrader.api import Gradebook

    from autograder.grading import generate

    paths = CoursePaths(workdir=tmp_path / "work")
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    generate("01-data-and-profiles", paths, tmp_path / "release", db_url=url)
    with Gradebook(url) as gb:
        assert gb.find_assignment("01-data-and-profiles").max_score == 12
    assert not (paths.workdir / "gradebook.db").exists()
    monkeypatch.setenv("ECOMREC_GRADEBOOK_URL", url)
    from autograder.course import nbgrader_config

    assert nbgrader_config(paths).CourseDirectory.db_url == url


@pytest.mark.slow  # starts nbgrader through Jupyter (about a minute)
def test_jupyter_sees_the_course_through_the_config_path(tmp_path):
    """`make lab` sets JUPYTER_CONFIG_PATH=autograder: nbgrader's tools then use this course."""
    import os

    bin_dir = Path(sys.executable).parent
    env = dict(
        os.environ,
        JUPYTER_CONFIG_PATH=str(ROOT / "autograder"),
        ECOMREC_GRADER_WORKDIR=str(tmp_path / "work"),
        PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    proc = subprocess.run(
        [
            str(bin_dir / "nbgrader"),
            "generate_assignment",
            "01-data-and-profiles",
            "--force",
            f"--CourseDirectory.release_directory={tmp_path / 'release'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "release" / "01-data-and-profiles" / "01-data-and-profiles.ipynb").is_file()
    assert (tmp_path / "work" / "gradebook.db").is_file()
    ext = subprocess.run(
        [str(bin_dir / "jupyter"), "server", "extension", "list"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    listing = ext.stdout + ext.stderr
    for name in ("formgrader", "assignment_list", "validate_assignment"):
        assert f"nbgrader.server_extensions.{name}" in listing and "enabled" in listing, name


def test_every_source_cell_has_a_role_a_unique_id_and_no_output():
    """nbgrader metadata on every cell of every source notebook, committed without outputs."""
    from collections import Counter

    paths = CoursePaths()
    for slug in assignments(paths):
        for path in paths.source_notebooks(slug):
            nb = nbformat.read(path, as_version=4)
            nbformat.validate(nb)
            ids = []
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                where = f"{path.name}, cell starting {cell.source[:60]!r}"
                assert meta.get("schema_version") == 3, f"{where}: no nbgrader metadata"
                assert meta.get("grade_id"), f"{path.name}: cell without grade_id"
                ids.append(meta["grade_id"])
                if cell.cell_type == "code":
                    assert not cell.outputs and cell.execution_count is None, meta["grade_id"]
            duplicates = [i for i, n in Counter(ids).items() if n > 1]
            assert not duplicates, f"{path.name}: duplicate grade_ids {duplicates}"
