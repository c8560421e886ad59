"""Per-assignment data for the assignment tests: one small module per assignment (a01 ... a08),
each defining ``ASSIGNMENT``, an :class:`assignments.spec.Assignment`. The shared structure
test (tests/test_assignment_structure.py) runs over all of them; each test_assignment_NN.py
keeps the checks only its assignment needs."""

from assignments import a01, a02, a03, a04, a05, a06, a07, a08

ASSIGNMENTS = [
    a01.ASSIGNMENT,
    a02.ASSIGNMENT,
    a03.ASSIGNMENT,
    a04.ASSIGNMENT,
    a05.ASSIGNMENT,
    a06.ASSIGNMENT,
    a07.ASSIGNMENT,
    a08.ASSIGNMENT,
]
