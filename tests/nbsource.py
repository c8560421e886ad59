"""An nbgrader source notebook as the assignment tests read it: cells by role and grade_id."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import nbformat
from nbgrader import utils


def nbgrader(cell) -> dict:
    """The cell's nbgrader metadata ({} for a cell nbgrader does not manage)."""
    return cell.metadata.get("nbgrader", {})


@functools.cache
def _parsed(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def read(path: Path) -> nbformat.NotebookNode:
    """A fresh copy of the notebook at `path` (parsed once; tests may edit their copy)."""
    return copy.deepcopy(_parsed(Path(path)))


def cell(nb, grade_id: str):
    """The one cell with this grade_id."""
    (found,) = [c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id]
    return found


def is_test_cell(cell) -> bool:
    """A graded code cell (nbgrader's own predicate, as the grader uses)."""
    return cell.cell_type == "code" and utils.is_grade(cell)


def is_solution_code(cell) -> bool:
    return cell.cell_type == "code" and utils.is_solution(cell)


def run_cell(source: str, base: dict, name: str = "cell") -> dict:
    """Exec a cell in a copy of `base` (it never sees another test's names); return the copy."""
    namespace = dict(base)
    exec(compile(source, name, "exec"), namespace)
    return namespace
