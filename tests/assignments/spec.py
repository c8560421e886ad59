"""The facts the structure test checks about an assignment, and the one way the assignment
tests build a namespace from a source notebook's cells."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from nbsource import cell, is_test_cell, nbgrader, read

ROOT = Path(__file__).resolve().parents[2]

# (answer cell, text replaced or None for the whole cell, replacement, test cell that must
# fail, caught by the hidden tests only)
WrongAnswer = tuple[str, str | None, str, str, bool]


@dataclass(frozen=True)
class Assignment:
    """One assignment's facts; every field is checked against its source notebook."""

    slug: str
    points: dict[str, int]  # grade_id -> points, as in the syllabus
    calls: dict[str, set[str]]  # test cell -> the student names it uses, and no others
    wrong_answers: dict[str, WrongAnswer]
    # code cells the fast tests never run (loading big data, training)
    skipped_cells: frozenset[str] = frozenset()
    training_cell: str | None = None  # the answer cell that trains (its stub raises)
    trained_test: str | None = None  # the test cell that needs the trained model
    # what the trained test raises on an untouched release; None: its own file checks it
    trained_test_on_stubs: type[BaseException] | None = AssertionError
    assigned_names: frozenset[str] = frozenset()  # names answer cells assign (model, run)
    training_calls: frozenset[str] = frozenset()  # helpers no test cell may call
    # what a wrong answer may raise in its test cell
    wrong_answer_errors: tuple[type[BaseException], ...] = (AssertionError,)
    totals: tuple[int, int] = (10, 2)  # points graded by tests, by an instructor
    intro_total: str = "Total: 12 points, 10 graded by tests and 2 by an instructor"
    extra: dict = field(default_factory=dict)

    @property
    def source(self) -> Path:
        return ROOT / "solutions" / self.slug / f"{self.slug}.ipynb"

    def read(self):
        """A fresh copy of the source notebook."""
        return read(self.source)

    def cell(self, grade_id: str):
        return cell(self.read(), grade_id)

    def fast_test_cells(self, nb=None) -> list:
        """The test cells that need no trained model."""
        nb = nb or self.read()
        return [
            c for c in nb.cells if is_test_cell(c) and nbgrader(c)["grade_id"] != self.trained_test
        ]


def base_namespace(assignment: Assignment) -> dict:
    """Every code cell of the source except the test cells and the skipped ones.

    Run once per assignment and test session; callers get a fresh shallow copy, so a test
    never sees another test's names.
    """
    return dict(_base(assignment))


_BASES: dict[str, dict] = {}


def _base(assignment: Assignment) -> dict:
    if assignment.slug not in _BASES:
        namespace: dict = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in assignment.read().cells:
                gid = nbgrader(c).get("grade_id")
                if c.cell_type == "code" and not is_test_cell(c):
                    if gid not in assignment.skipped_cells:
                        exec(compile(c.source, gid, "exec"), namespace)
        _BASES[assignment.slug] = namespace
    return _BASES[assignment.slug]
