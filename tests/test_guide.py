"""Every command the instructor guide tells an instructor to run is exercised by a test.

The commands are read from book/instructor-guide.md: each `course ...`, `nbgrader ...` and
`make ...` in its shell code blocks and in its inline code. A command is known by its program,
its subcommand and the options it uses (values left out), so `course grade SLUG --submissions
DIR --force` is `course grade --force --submissions`. COVERED maps each to the tests that run it;
a command new to the guide, or with a new option, fails here until a test runs it and is named
in the table. Entries the guide no longer has fail too, so the table stays true.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "book" / "instructor-guide.md"
PROGRAMS = ("course", "nbgrader", "make")
SHELL_BLOCKS = ("bash", "sh", "shell", "console", "")
FLAGS = {"--force"}  # options that take no value

# command -> tests that run it ("file::test"; the test must exist)
COVERED = {
    "course release": [
        "tests/test_postgres.py::test_release_writes_the_assignment_into_postgresql"
    ],
    "course check": ["tests/test_assignments.py::test_course_check"],
    "course grade": [
        "tests/test_grading.py::test_killed_run_resumes_and_loses_nothing",
        "tests/test_postgres.py::test_parallel_grading_writes_every_student_to_postgresql",
    ],
    "course grade --submissions": [
        "tests/test_postgres.py::test_parallel_grading_writes_every_student_to_postgresql"
    ],
    "course grade --out --submissions": [
        "tests/test_grading.py::test_killed_run_resumes_and_loses_nothing",
        "tests/test_postgres.py::test_grades_csv_comes_from_postgresql",
    ],
    # grading.grade(..., force=True), what `course grade --force` calls
    "course grade --force --submissions": [
        "tests/test_grading.py::test_manual_grades_survive_a_regrade"
    ],
    "course grade --cluster": [
        "tests/test_dask_grading.py::test_cluster_grades_like_one_local_worker"
    ],
    "course grade --cluster --submissions": [
        "tests/test_dask_grading.py::test_cluster_grades_like_one_local_worker",
        "tests/test_dask_grading.py::test_killed_worker_loses_no_student",
    ],
    "course grade --workers": [
        "tests/test_postgres.py::test_parallel_grading_writes_every_student_to_postgresql"
    ],
    "course grade --db": [
        "tests/test_postgres.py::test_parallel_grading_writes_every_student_to_postgresql"
    ],
    "course report --grades --out": [
        "tests/test_postgres.py::test_course_report_on_the_postgresql_grades"
    ],
    "make lab": [
        "tests/test_lab.py::test_make_lab_puts_the_exercises_in_my_work",
        "tests/test_lab.py::test_student_lab_has_no_instructor_tools",
    ],
    "make lab LAB_ARGS=": ["tests/test_lab.py::test_make_lab_puts_the_exercises_in_my_work"],
    # tests/test_hub.py runs `make hub HUB_ARGS=...` (throwaway accounts, free ports) and
    # the whole cycle on it
    "make hub": [
        "tests/test_hub.py::test_make_hub_serves_only_on_loopback",
        "tests/test_hub.py::test_instructor_collects_grades_and_releases_feedback",
    ],
    "make hub HUB_ARGS=": ["tests/test_hub.py::test_make_hub_serves_only_on_loopback"],
    "make lab-instructor": [
        "tests/test_lab.py::test_fresh_clone_assignments_panel_shows_no_error",
        "tests/test_lab.py::test_formgrader_lists_the_collected_submission",
    ],
    "make student-repo DEST=": [
        "tests/test_student.py::test_student_repo_has_no_solution_or_hidden_test_line",
        "tests/test_student.py::test_student_repo_has_the_lessons_exercises_and_tools",
    ],
    # conftest's built_book runs the recipe's command (jupyter-book build . -W -n --keep-going)
    "make book": ["tests/test_book.py::test_every_toc_page_is_built"],
    # formgrader's Release and Collect buttons run nbgrader's release_assignment and collect
    "nbgrader release_assignment": [
        "tests/test_lab.py::test_fresh_clone_formgrader_offers_release"
    ],
    "nbgrader collect": ["tests/test_lab.py::test_formgrader_lists_the_collected_submission"],
    "nbgrader export": ["tests/test_postgres.py::test_nbgrader_export_reads_postgresql"],
    "nbgrader generate_feedback": [
        "tests/test_grading_cycle.py::test_documented_cycle_through_the_exchange"
    ],
    "nbgrader release_feedback": [
        "tests/test_grading_cycle.py::test_documented_cycle_through_the_exchange",
        "tests/test_grading.py::test_feedback_reaches_students_by_both_routes",
    ],
    "nbgrader fetch_feedback": [
        "tests/test_grading_cycle.py::test_documented_cycle_through_the_exchange"
    ],
    # write_report on the grades `course grade` wrote, what `course report SLUG` reads
    "course report": ["tests/test_grading.py::test_class_report"],
}

# Commands no test can run, with where they are run instead (that file must contain them).
RUN_ELSEWHERE = {
    "make test": (".ci/run", "it runs this test suite; CI runs it on every push"),
}

# Commands whose test is not written yet: skipped with the reason, and a failure as soon as
# the named test file exists, to move the command into COVERED with its test.
PENDING: dict[str, str] = {}


def _command_key(command: str) -> str | None:
    """`course --db URL grade SLUG --out DIR` -> "course grade --db --out"."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words or words[0] not in PROGRAMS:
        return None
    subcommand, options, takes_value = None, set(), False
    for word in words[1:]:
        if takes_value:
            takes_value = False
        elif word.startswith("-"):
            name = word.split("=", 1)[0]
            options.add(name)
            takes_value = "=" not in word and name not in FLAGS
        elif re.fullmatch(r"[A-Z_]+=.*", word):  # make VAR=value
            options.add(word.split("=", 1)[0] + "=")
        elif subcommand is None and re.fullmatch(r"[a-z][a-z_-]*", word):
            subcommand = word
    if subcommand is None:
        return None
    return " ".join([words[0], subcommand, *sorted(options)])


def _commands(text: str) -> dict[str, str]:
    """Every command in the guide's shell blocks and inline code: key -> first occurrence."""
    found: dict[str, str] = {}

    def add(command: str) -> None:
        key = _command_key(command.strip())
        if key:
            found.setdefault(key, command.strip())

    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        if lang in SHELL_BLOCKS:
            for line in body.splitlines():
                for part in re.split(r"&&|\|\||;|\|", line.split(" #")[0]):
                    add(part)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`\n]+)`", prose):
        for part in re.split(r"&&|\|\||;|\|", span):
            add(part)
    return found


GUIDE_COMMANDS = _commands(GUIDE.read_text())


def _test_exists(reference: str) -> bool:
    path, _, name = reference.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def test_the_guide_has_commands():
    assert {"course release", "course grade", "make lab"} <= set(GUIDE_COMMANDS), GUIDE_COMMANDS


@pytest.mark.parametrize("key", sorted(GUIDE_COMMANDS))
def test_every_guide_command_is_exercised_by_a_test(key):
    example = GUIDE_COMMANDS[key]
    if key in PENDING:
        test_file = PENDING[key]
        assert not (ROOT / test_file).exists(), (
            f"{test_file} exists now: name its test of `{example}` in COVERED"
        )
        pytest.skip(f"`{example}` is tested by {test_file}, on a branch not merged yet")
    if key in RUN_ELSEWHERE:
        where, why = RUN_ELSEWHERE[key]
        assert key in (ROOT / where).read_text(), f"{where} does not run `{key}`"
        return
    assert key in COVERED, (
        f"the instructor guide tells instructors to run `{example}` ({key!r}), and no test is "
        "named for it: write one that runs it, and add it to COVERED in tests/test_guide.py"
    )
    tests = COVERED[key]
    assert tests, key
    missing = [t for t in tests if not _test_exists(t)]
    assert not missing, f"{key}: no such test {missing}"


def test_the_table_lists_only_commands_the_guide_has():
    stale = sorted((set(COVERED) | set(RUN_ELSEWHERE)) - set(GUIDE_COMMANDS))
    assert not stale, f"no longer in the instructor guide, remove from tests/test_guide.py: {stale}"


@pytest.mark.parametrize(
    "command, key",
    [
        ("course release 01-data-and-profiles", "course release"),
        (
            "course --db postgresql://u:p@h/db grade S --submissions d/",
            "course grade --db --submissions",
        ),
        ("course grade <slug> --submissions ... --force", "course grade --force --submissions"),
        ('make lab LAB_ARGS="--no-browser --port 8899"', "make lab LAB_ARGS="),
        ("nbgrader release_assignment <slug>", "nbgrader release_assignment"),
        ("make", None),
        ("git init", None),
    ],
)
def test_command_key(command, key):
    assert _command_key(command) == key


def test_the_guides_speed_figures_are_the_recorded_benchmark():
    # the guide quotes benchmarks/results.json (written by `make bench`): after a new
    # measurement, these sentences must follow it
    import json
    from statistics import mean

    text = " ".join(GUIDE.read_text().split())
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    grading = results["grading"]
    course, plain, n = mean(grading["course_runs"]), mean(grading["plain_runs"]), grading["n"]
    (_, n1, one), (_, n2, two) = results["grading_dask"]["rows"]
    for figure in (
        f"graded {n} submissions of assignment 01 in {course:.1f} s",
        f"against {plain:.1f} s for plain sequential nbgrader autograde",
        f"{plain / course:.2f} times as fast, {60 * n / course:.0f} submissions a minute",
        f"one local Dask worker graded {60 * n1 / one:.0f} submissions",
        f"two workers {60 * n2 / two:.0f} ({one / two:.2f} times one worker)",
    ):
        assert figure in text, f"the guide should say {figure!r} (benchmarks/results.json)"
