"""The structure every assignment shares, checked on each nbgrader source notebook.

For each assignment (its facts in tests/assignments/aNN.py): the points match the
syllabus, every cell has a consistent nbgrader role, the solution passes every test cell
(hidden tests included) and the visible tests alone, an untouched release fails every test
cell, each test cell uses only its own answers, and typical wrong answers lose their points.
What only one assignment needs (solutions against the library, the trained-model cell with
stand-in models) stays in its test_assignment_NN.py. The full nbgrader round trip (generate,
autograde) is `course check`'s job.
"""

from __future__ import annotations

import ast
import warnings

import pytest
from assignments import ASSIGNMENTS
from assignments.spec import Assignment, base_namespace
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from nbsource import cell, is_solution_code, is_test_cell, nbgrader, run_cell

BY_SLUG = {a.slug: a for a in ASSIGNMENTS}
each = pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=lambda a: a.slug[:2])


def _run_quietly(source: str, namespace: dict, name: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a library warning is no verdict
        return run_cell(source, namespace, name)


@each
def test_points_match_the_syllabus(assignment: Assignment):
    nb = assignment.read()
    graded = [c for c in nb.cells if utils.is_grade(c)]
    assert {nbgrader(c)["grade_id"]: nbgrader(c)["points"] for c in graded} == assignment.points
    assert all(nbgrader(c)["points"] > 0 for c in graded)
    auto = sum(nbgrader(c)["points"] for c in graded if not utils.is_solution(c))
    manual = sum(nbgrader(c)["points"] for c in graded if utils.is_solution(c))
    assert (auto, manual) == assignment.totals
    assert assignment.intro_total in cell(nb, "intro").source


@each
def test_cell_roles_are_consistent(assignment: Assignment):
    for c in assignment.read().cells:
        meta = nbgrader(c)
        gid = meta["grade_id"]
        if is_solution_code(c):
            assert not utils.is_grade(c) and not utils.is_locked(c), gid
            assert c.source.count("### BEGIN SOLUTION") == c.source.count("### END SOLUTION")
            assert "### BEGIN SOLUTION" in c.source, gid
        elif is_test_cell(c):
            assert utils.is_locked(c) and not utils.is_solution(c), gid
            source = c.source
            assert source.count("### BEGIN HIDDEN TESTS") == 1, gid
            assert source.count("### END HIDDEN TESTS") == 1, gid
            visible = source.split("### BEGIN HIDDEN TESTS")[0]
            assert "assert " in visible, f"{gid}: students need visible tests too"
            # nbgrader gives partial credit from a cell's final value: end with a print
            tree = ast.parse(source)
            last = tree.body[-1]
            assert isinstance(last, ast.Expr) and last.value.func.id == "print", gid
            # anything on stderr scores a test cell 0: no progress bars or training in one
            called = {
                node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute)
            }
            assert "tqdm" not in source, gid
            assert not called & assignment.training_calls, gid
        elif c.cell_type == "markdown" and utils.is_solution(c):
            assert utils.is_grade(c) and not utils.is_locked(c), gid
        else:
            assert utils.is_locked(c) and not utils.is_grade(c) and not utils.is_solution(c), gid


@each
def test_solution_passes_every_test_cell(assignment: Assignment):
    """Hidden tests included; each cell alone, so no test relies on another test's names."""
    base = base_namespace(assignment)
    for c in assignment.fast_test_cells():
        _run_quietly(c.source, base, nbgrader(c)["grade_id"])


@each
def test_visible_tests_pass_on_their_own(assignment: Assignment):
    base = base_namespace(assignment)
    release, _ = ClearHiddenTests().preprocess(assignment.read(), {})
    for c in assignment.fast_test_cells(release):
        assert "HIDDEN" not in c.source
        _run_quietly(c.source, base, nbgrader(c)["grade_id"])


@each
def test_untouched_release_fails_every_test_cell(assignment: Assignment):
    release, _ = ClearSolutions().preprocess(assignment.read(), {})
    stubs = base_namespace(assignment)
    for name in assignment.assigned_names:  # what the training call would have set
        stubs.pop(name, None)
    for c in release.cells:
        gid = nbgrader(c).get("grade_id")
        if not is_solution_code(c):
            continue
        assert "raise NotImplementedError()" in c.source, gid
        if gid == assignment.training_cell:
            with pytest.raises(NotImplementedError):
                exec(compile(c.source, "stub", "exec"), stubs)
        elif gid not in assignment.skipped_cells:
            exec(compile(c.source, "stub", "exec"), stubs)
    for c in release.cells:
        if not is_test_cell(c):
            continue
        gid = nbgrader(c)["grade_id"]
        if gid == assignment.trained_test:
            if assignment.trained_test_on_stubs is None:
                continue  # checked by the assignment's own file
            # the training test finds no trained model: an assertion
            expected = assignment.trained_test_on_stubs
        else:
            expected = NotImplementedError  # the others call the stubs
        with pytest.raises(expected):
            _run_quietly(c.source, stubs, gid)


@each
def test_each_test_cell_uses_only_its_own_answers(assignment: Assignment):
    """A mistake in one answer costs the points of the cells that use it and no others."""
    nb = assignment.read()
    student_names = set()
    for c in nb.cells:
        if is_solution_code(c):
            for node in ast.parse(c.source).body:
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    student_names.add(node.name)
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        student_names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    assert student_names == set().union(*assignment.calls.values()) | assignment.assigned_names
    for c in nb.cells:
        if is_test_cell(c):
            names = {n.id for n in ast.walk(ast.parse(c.source)) if isinstance(n, ast.Name)}
            assert names & student_names == assignment.calls[nbgrader(c)["grade_id"]]


WRONG = [(a.slug, wrong) for a in ASSIGNMENTS for wrong in sorted(a.wrong_answers)]


@pytest.mark.parametrize(("slug", "wrong"), WRONG, ids=[f"{s[:2]}-{w}" for s, w in WRONG])
def test_wrong_answers_lose_their_points(slug, wrong):
    assignment = BY_SLUG[slug]
    solution_id, old, new, test_id, hidden_only = assignment.wrong_answers[wrong]
    nb = assignment.read()
    source = cell(nb, solution_id).source
    if old is None:
        mutated = new
    else:
        assert old in source, f"{wrong}: the solution no longer contains {old!r}"
        mutated = source.replace(old, new)
    namespace = _run_quietly(mutated, base_namespace(assignment), solution_id)
    test_source = cell(nb, test_id).source
    with pytest.raises(assignment.wrong_answer_errors):
        _run_quietly(test_source, namespace, test_id)
    if hidden_only:  # the visible sample passes: only the hidden tests catch this one
        _run_quietly(test_source.split("### BEGIN HIDDEN TESTS")[0], namespace, test_id)
