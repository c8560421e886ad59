"""Grading is safe and loses nothing: an adversarial corpus built from the release notebook.

Every kind of bad submission an instructor meets is built here from assignment 01's
release (the cheapest assignment), graded once in parallel, and checked for its score and
status. Then: --workers 1 gives the same grades, a killed run resumes to the same grades,
manual grades survive a regrade, submissions are never modified (nbgrader's own submitted
folder graded in place included), the resume cache follows the gradebook, feedback reaches
students by both routes.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from nbsource import is_solution_code

from autograder.checks import perfect_submission
from autograder.course import CoursePaths
from autograder.grading import GradeSettings, grade
from autograder.guards import is_test_cell
from autograder.limits import GradingLimits
from autograder.sandbox import bwrap_available

ROOT = Path(__file__).resolve().parents[1]
SLUG = "01-data-and-profiles"
SOURCE = ROOT / "solutions" / SLUG / f"{SLUG}.ipynb"
RELEASE = ROOT / "exercises" / SLUG / f"{SLUG}.ipynb"
NAME = RELEASE.name

pytestmark = pytest.mark.skipif(not RELEASE.is_file(), reason="assignment 01 is not released")


def _release() -> nbformat.NotebookNode:
    return nbformat.read(RELEASE, as_version=4)


def _perfect() -> nbformat.NotebookNode:
    return perfect_submission(SOURCE, RELEASE)


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(nb, grade_id):
    return next(c for c in nb.cells if _grade_id(c) == grade_id)


def _answer_ids(nb) -> list[str]:
    return [_grade_id(c) for c in nb.cells if is_solution_code(c)]


def _test_ids(nb) -> list[str]:
    return [_grade_id(c) for c in nb.cells if is_test_cell(c)]


def _manual_ids(nb) -> list[str]:
    return [_grade_id(c) for c in nb.cells if utils.is_grade(c) and utils.is_solution(c)]


def _tests_after(nb, answer_id) -> list[str]:
    """The test cells between an answer cell and the next answer cell."""
    found, out = False, []
    for c in nb.cells:
        if _grade_id(c) == answer_id:
            found = True
        elif found and is_solution_code(c):
            break
        elif found and is_test_cell(c):
            out.append(_grade_id(c))
    return out


def _points(nb, grade_id) -> float:
    return float(_cell(nb, grade_id).metadata["nbgrader"]["points"])


WRONG_HR = """def hr_at_k(ranked_lists, targets, k):
    # plausible but wrong: assumes the target is always somewhere in the list
    return float(np.mean([list(r).index(t) < k for r, t in zip(ranked_lists, targets)]))
"""


class Server:
    """A TCP server on localhost that records whether anyone connected."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


def build_corpus(folder: Path, server_port: int) -> dict[str, dict]:
    """Write one submission per case; return what each case should get."""
    perfect, release = _perfect(), _release()
    answers, tests = _answer_ids(release), _test_ids(release)
    full = sum(_points(release, t) for t in tests)
    first_test_points = _points(release, tests[0])
    cases: dict[str, dict] = {}

    def put(student, nb=None, raw=None, name=NAME, expect=None):
        target = folder / student / SLUG
        target.mkdir(parents=True, exist_ok=True)
        if raw is not None:
            (target / name).write_text(raw)
        elif nb is not None:
            nbformat.write(nb, target / name)
        cases[student] = expect

    put("correct", perfect, expect={"status": "ok", "auto": full})
    put("untouched", release, expect={"status": "ok", "auto": 0.0})

    partial = _release()
    for grade_id in answers[:2]:  # hr_at_k and ndcg_at_k right, the rest left as stubs
        _cell(partial, grade_id).source = _cell(perfect, grade_id).source
    two = sum(_points(release, t) for t in tests[:2])
    put("partial", partial, expect={"status": "ok", "auto": two})

    wrong = _perfect()
    _cell(wrong, answers[0]).source = WRONG_HR
    put("wrong-visible-ok", wrong, expect={"status": "ok", "auto": full - first_test_points})

    loop = _perfect()  # loops before defining its last answer: that answer's tests fail
    _cell(loop, answers[-1]).source = "while True:\n    pass\n" + _cell(loop, answers[-1]).source
    lost = sum(_points(release, t) for t in _tests_after(release, answers[-1]))
    put("infinite-loop", loop, expect={"status": "timeout", "auto": full - lost})

    crash = _perfect()
    _cell(crash, answers[1]).source += "\nimport os\nos._exit(3)\n"
    put("crash", crash, expect={"status": "crashed", "auto": first_test_points})

    bomb = _perfect()
    _cell(bomb, answers[0]).source += "\nhog = []\nwhile True:\n    hog.append(bytearray(10**8))\n"
    put("memory-bomb", bomb, expect={"status": "memory", "auto_max": full})
    # small allocations leave no memory even for the tamper checks: still `memory`
    fine = _perfect()
    _cell(fine, answers[1]).source += "\nhog = []\nwhile True:\n    hog.append([0] * 1000)\n"
    put("memory-bomb-small", fine, expect={"status": "memory", "auto_max": full})

    put(
        "malformed",
        raw='{"cells": [ this is not json',
        expect={"status": "invalid-notebook", "auto": 0.0},
    )
    put("renamed", perfect, name=f"{SLUG} (1).ipynb", expect={"status": "ok", "auto": full})
    put("two-candidates", perfect, name="draft.ipynb")
    put("two-candidates", perfect, name=f"{SLUG} (1).ipynb")
    cases["two-candidates"] = {"status": "missing-notebook", "auto": 0.0}
    (folder / "missing" / SLUG).mkdir(parents=True)
    cases["missing"] = {"status": "missing-notebook", "auto": 0.0}

    edited = _release()  # stub answers, and the first test cell replaced by `pass`
    _cell(edited, tests[0]).source = "pass"
    put("edited-test", edited, expect={"status": "tampered", "auto": 0.0})

    deleted = _release()
    deleted.cells = [
        c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != tests[0]
    ]
    put("deleted-test", deleted, expect={"status": "tampered", "auto": 0.0})

    # tries to copy the answers out of the instructor's source notebook
    thief = _release()
    _cell(thief, answers[0]).source = (
        "import json\n"
        f"src = json.load(open({str(SOURCE)!r}))\n"
        "code = [''.join(c['source']) for c in src['cells']\n"
        "        if c.get('metadata', {}).get('nbgrader', {}).get('solution')\n"
        "        and c['cell_type'] == 'code']\n"
        "for block in code:\n"
        "    exec(block)\n"
    )
    put("reads-solutions", thief, expect={"status": "ok", "auto": 0.0})

    net = _perfect()
    _cell(net, answers[0]).source += (
        "\nimport socket\n"
        f"try:\n    socket.create_connection(('127.0.0.1', {server_port}), timeout=3).close()\n"
        "except OSError as err:\n    print('network blocked:', err)\n"
    )
    put("network", net, expect={"status": "ok", "auto": full})

    patcher = _release()  # wrong answers (constants), and the test helpers patched to agree
    for grade_id in answers:
        defs = [ln for ln in _cell(perfect, grade_id).source.splitlines() if ln.startswith("def ")]
        _cell(patcher, grade_id).source = "\n".join(f"{d}\n    return 0.123\n" for d in defs)
    _cell(patcher, answers[0]).source = (
        "import math\nimport numpy as np\nimport numpy.testing\n"
        "np.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
        "math.isclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n" + _cell(patcher, answers[0]).source
    )
    put("monkey-patch", patcher, expect={"status": "tampered", "auto": 0.0})
    return cases


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _read(csv_path: Path) -> dict[str, dict]:
    with csv_path.open() as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _manual_points() -> float:
    release = _release()
    return sum(_points(release, grade_id) for grade_id in _manual_ids(release))


def _limits(mode: str) -> GradingLimits:
    return GradingLimits(cell_timeout=30, notebook_wall=150, memory_mb=2048, sandbox=mode)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    server = Server()
    submissions = base / "submissions"
    cases = build_corpus(submissions, server.port)
    before = _digest(submissions)
    paths = CoursePaths(workdir=base / "work")
    mode = "bwrap" if bwrap_available() else "rlimit"
    started = time.monotonic()
    grade(
        SLUG,
        submissions,
        base / "out",
        paths,
        GradeSettings(workers=2, limits=_limits(mode), progress=False),
    )
    seconds = time.monotonic() - started
    server.close()
    yield {
        "base": base,
        "submissions": submissions,
        "cases": cases,
        "paths": paths,
        "grades": _read(base / "out" / "grades.csv"),
        "server": server,
        "before": before,
        "mode": mode,
        "seconds": seconds,
    }


def test_every_case_gets_its_score_and_status(corpus):
    manual = _manual_points()
    problems = []
    for student, expect in corpus["cases"].items():
        row = corpus["grades"][student]
        auto = float(row["total"])  # manual answers are not graded yet: they score 0
        if row["status"] != expect["status"]:
            problems.append(
                f"{student}: status {row['status']} ({row['reason']}), expected {expect['status']}"
            )
        if "auto" in expect and auto != pytest.approx(expect["auto"]):
            problems.append(f"{student}: {auto} points, expected {expect['auto']}")
        if "auto_max" in expect and auto > expect["auto_max"]:
            problems.append(f"{student}: {auto} points, expected at most {expect['auto_max']}")
        assert float(row["max_total"]) > manual
    assert not problems, "\n".join(problems)


def test_reasons_say_what_happened(corpus):
    g = corpus["grades"]
    assert f"'{SLUG} (1).ipynb'" in g["renamed"]["reason"], "the rename is stated"
    assert "draft.ipynb" in g["two-candidates"]["reason"]
    assert f"{SLUG} (1).ipynb" in g["two-candidates"]["reason"]
    assert "missing" in g["missing"]["reason"]
    assert "not a valid notebook" in g["malformed"]["reason"]
    assert "time limit" in g["infinite-loop"]["reason"]
    assert "memory" in g["memory-bomb"]["reason"]
    assert "tamper" not in g["memory-bomb-small"]["reason"]
    assert "edited" in g["edited-test"]["reason"]
    assert "deleted" in g["deleted-test"]["reason"]
    assert "numpy.allclose" in g["monkey-patch"]["reason"]
    assert g["correct"]["reason"] == ""


@pytest.mark.skipif(not bwrap_available(), reason="bubblewrap is not installed")
def test_sandbox_blocks_network_and_solutions(corpus):
    assert corpus["server"].connections == 0, "a submission reached a localhost server"
    autograded = corpus["paths"].workdir / "autograded" / "network" / SLUG / NAME
    text = autograded.read_text()
    assert "network blocked" in text
    assert float(corpus["grades"]["reads-solutions"]["total"]) == 0


def test_submissions_are_never_modified(corpus):
    assert _digest(corpus["submissions"]) == corpus["before"]


def test_feedback_reaches_students_by_both_routes(corpus, tmp_path):
    """--out and nbgrader's feedback folder hold the same pages, status line included, and
    `nbgrader release_feedback` releases every student's, collected through the exchange
    or not (it used to stop at the first student without timestamp.txt)."""
    work = corpus["paths"].workdir
    pages = 0
    for student in corpus["cases"]:
        ours = sorted((corpus["base"] / "out" / "feedback" / student).glob("*.html"))
        theirs = sorted((work / "feedback" / student / SLUG).glob("*.html"))
        assert [p.name for p in ours] == [p.name for p in theirs], student
        for a, b in zip(ours, theirs, strict=True):
            assert a.read_bytes() == b.read_bytes(), student
            assert "Grading status" in a.read_text()
        pages += len(theirs)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)  # as on a shared machine: every user may write to the exchange
    proc = _nbgrader(["release_feedback", SLUG, f"--Exchange.root={exchange}"], work, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    released = list((exchange / "ecomrec" / "feedback").glob("*.html"))
    assert len(released) == pages


def _nbgrader(args: list[str], work: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    """An nbgrader command with the course's configuration, as `make lab` sets it up."""
    import os

    from autograder.course import tools_path

    environ = dict(
        os.environ,
        JUPYTER_CONFIG_PATH=str(ROOT / "autograder"),
        ECOMREC_GRADER_WORKDIR=str(work),
        PATH=tools_path(),
        **env,
    )
    environ.pop("ECOMREC_GRADEBOOK_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )


def test_grading_nbgrader_submitted_folder_in_place_changes_nothing(corpus, tmp_path):
    """`course grade --submissions <nbgrader's submitted folder>`, as the guide shows, with
    --workdir and --db after the subcommand: every file stays byte for byte."""
    from nbgrader.api import Gradebook

    work = tmp_path / "work"
    submitted = work / "submitted"  # nbgrader's submitted folder for this work folder
    for student in ("correct", "renamed", "malformed"):
        shutil.copytree(corpus["submissions"] / student, submitted / student)
    (submitted / "correct" / SLUG / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    (submitted / "correct" / SLUG / "data").mkdir()
    (submitted / "correct" / SLUG / "data" / "notes.txt").write_text("my own data file\n")
    files = {p: p.read_bytes() for p in submitted.rglob("*") if p.is_file()}
    stamps = {p: p.stat().st_mtime_ns for p in files}
    db = tmp_path / "elsewhere.db"
    cmd = [
        *("grade", SLUG, "--submissions", str(submitted)),
        *("--workdir", str(work), "--db", f"sqlite:///{db}"),
        *("--workers", "2", "--sandbox", corpus["mode"], "--timeout", "30", "--wall", "150"),
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.cli", *cmd],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    after = {p: p.read_bytes() for p in submitted.rglob("*") if p.is_file()}
    assert after == files, "course grade changed the submissions it graded"
    assert {p: p.stat().st_mtime_ns for p in after} == stamps
    grades = _read(CoursePaths(workdir=work).grades_dir(SLUG) / "grades.csv")  # default --out
    for student in ("correct", "renamed", "malformed"):
        assert grades[student]["total"] == corpus["grades"][student]["total"], student
        assert grades[student]["status"] == corpus["grades"][student]["status"], student
    with Gradebook(f"sqlite:///{db}") as gb:  # --db after the subcommand was used
        assert gb.find_submission(SLUG, "correct").score == float(grades["correct"]["total"])


def test_grading_refuses_folders_that_overlap_its_own(corpus, tmp_path):
    from autograder.grading import CourseError

    paths = CoursePaths(workdir=tmp_path / "work")
    subs = tmp_path / "submissions"
    shutil.copytree(corpus["submissions"] / "correct", subs / "correct")
    settings = GradeSettings(workers=1, limits=_limits(corpus["mode"]), progress=False)
    before = _digest(subs)
    with pytest.raises(CourseError, match="inside the submissions folder"):
        grade(SLUG, subs, subs / "grades", paths, settings)
    autograded = paths.workdir / "autograded"
    shutil.copytree(subs, autograded)
    with pytest.raises(CourseError, match="rewrites"):
        grade(SLUG, autograded, tmp_path / "out", paths, settings)
    assert _digest(subs) == before == _digest(autograded)


def test_resume_cache_follows_the_gradebook(corpus, tmp_path):
    """A new gradebook means grading again; so does a gradebook that lost the scores."""
    from nbgrader.api import Gradebook

    from autograder.grading import export_grades

    subs = tmp_path / "submissions"
    shutil.copytree(corpus["submissions"] / "correct", subs / "correct")
    paths = CoursePaths(workdir=tmp_path / "work")
    expected = corpus["grades"]["correct"]

    def run(db: Path) -> tuple[int, dict]:
        settings = GradeSettings(
            workers=1, limits=_limits(corpus["mode"]), progress=False, db_url=f"sqlite:///{db}"
        )
        grade(SLUG, subs, tmp_path / "out", paths, settings)
        run = json.loads((tmp_path / "out" / "grading-run.json").read_text())
        return run["graded_now"], _read(tmp_path / "out" / "grades.csv")["correct"]

    first, second = tmp_path / "first.db", tmp_path / "second.db"
    assert run(first) == (1, expected)
    assert run(first) == (0, expected)  # resumed: nothing to do
    assert run(second) == (1, expected)  # a new gradebook: graded again
    with Gradebook(f"sqlite:///{second}") as gb:
        gb.remove_submission(SLUG, "correct")
    assert run(second) == (1, expected)  # same URL, scores gone: graded again
    # and an export never reports `ok` for a student whose scores are not in the gradebook
    ghost = {"student_id": "ghost", "status": "ok", "reason": ""}
    rows = export_grades(SLUG, [ghost], tmp_path / "g.csv", paths, f"sqlite:///{second}")
    assert rows[0]["status"] == "not-in-gradebook"
    assert "run `course grade` again" in rows[0]["reason"]


def test_feedback_for_every_student_without_hidden_tests(corpus):
    from autograder.checks import find_leaks

    hidden = _hidden_lines()
    assert hidden
    for student in corpus["cases"]:
        folder = corpus["base"] / "out" / "feedback" / student
        pages = list(folder.glob("*.html"))
        assert pages, student
        assert "Grading status" in pages[0].read_text()
        assert not find_leaks(hidden, [folder]), f"{student}'s feedback shows hidden tests"


def _hidden_lines() -> set[str]:
    lines, inside = set(), False
    for cell in nbformat.read(SOURCE, as_version=4).cells:
        for raw in cell.source.splitlines():
            line = raw.strip()
            if line.startswith("### BEGIN HIDDEN TESTS"):
                inside = True
            elif line.startswith("### END HIDDEN TESTS"):
                inside = False
            elif inside and len(line) >= 16 and line not in _visible_lines():
                lines.add(line)
    return lines


def _visible_lines() -> set[str]:
    """Lines a student's feedback may show: the release's and the student's own answers."""
    cells = _release().cells + _perfect().cells
    return {ln.strip() for c in cells for ln in c.source.splitlines()}


def test_class_report(corpus, tmp_path):
    import matplotlib.image

    from autograder.report import question_points, write_report

    page = write_report(SLUG, corpus["base"] / "out" / "grades.csv", tmp_path)
    text = page.read_text()
    for image in ("scores.png", "failure-rates.png"):
        height, width = matplotlib.image.imread(tmp_path / image).shape[:2]
        assert 500 <= width <= 1200 and height <= 900, f"{image} is {width}x{height} px"
    assert f"{len(corpus['cases'])} students" in text
    assert "| tampered |" in text
    # rates against full marks, counted again here from grades.csv
    points = question_points(SLUG, CoursePaths())
    graded = [
        r
        for r in corpus["grades"].values()
        if r["status"] not in ("missing-notebook", "invalid-notebook")
    ]
    for q, (top, manual) in points.items():
        scored = [float(r[q]) for r in graded if r[q] != ""]
        below = sum(score < top for score in scored)
        rate = f"{below} ({below / len(scored):.0%})" if scored else "-"
        ungraded = len(graded) - len(scored)
        assert f"| {q} | {top:g} | {'hand' if manual else 'tests'} | " in text
        assert f" | {rate} | {ungraded} |" in text.split(f"| {q} |")[1].splitlines()[0]
    written = _manual_ids(_release())[0]
    assert corpus["grades"]["correct"][written] == "", "a written answer waits for formgrader"
    assert "malformed, missing, two-candidates." in text


def test_report_counts_a_question_everyone_fails(tmp_path):
    """A question nobody gets right is a 100% failure (it used to show 0%: 'below the best')."""
    from autograder.report import question_points, write_report

    points = question_points(SLUG, CoursePaths())
    rows = []
    for student, status in (("a", "ok"), ("b", "ok"), ("c", "missing-notebook")):
        row = {"student_id": student}
        for q, (_, manual) in points.items():
            row[q] = "" if manual and status == "ok" else 0.0
        row.update(total=0.0, max_total=12.0, status=status, reason="")
        rows.append(row)
    grades = tmp_path / "grades.csv"
    with grades.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    text = write_report(SLUG, grades, tmp_path / "report").read_text()
    for q, (top, manual) in points.items():
        if manual:
            assert f"| {q} | {top:g} | hand | - | - | 2 |" in text
        else:
            assert f"| {q} | {top:g} | tests | 0.00 | 2 (100%) | 0 |" in text
    assert "1 student(s): c." in text


def test_one_worker_with_cold_kernels_gives_the_same_grades(corpus, tmp_path):
    """The corpus was graded by warm kernels (forked by each worker's zygote); one worker
    starting every kernel afresh, as nbgrader does, gives every one the same row."""
    subset = [
        "correct",
        "partial",
        "wrong-visible-ok",
        "monkey-patch",
        "malformed",
        "crash",
        "edited-test",
        "network",
    ]  # not the memory bombs: what still fits after one depends on the memory layout
    subs = tmp_path / "submissions"
    for student in subset:
        shutil.copytree(corpus["submissions"] / student, subs / student)
    limits = replace(_limits(corpus["mode"]), warm_kernels=False)
    grade(
        SLUG,
        subs,
        tmp_path / "out",
        CoursePaths(workdir=tmp_path / "work"),
        GradeSettings(workers=1, limits=limits, progress=False),
    )
    again = _read(tmp_path / "out" / "grades.csv")
    for student in subset:
        first = {k: v for k, v in corpus["grades"][student].items()}
        assert again[student] == first, student
    results = CoursePaths(workdir=tmp_path / "work").results_dir(SLUG)
    graded = json.loads((results / "correct.json").read_text())
    assert graded["profile"]["cold_kernels"] == 1
    warm = json.loads((corpus["paths"].results_dir(SLUG) / "correct.json").read_text())
    assert warm["profile"]["cold_kernels"] == 0, "the corpus was graded by warm kernels"


def test_metadata_check_compiled_once_fails_like_nbgraders():
    from nbgrader.nbgraderformat import MetadataValidator, ValidationError
    from nbgrader.preprocessors import CheckCellMetadata

    from autograder.worker import check_cell_metadata_once

    once = check_cell_metadata_once()
    assert issubclass(once, CheckCellMetadata)
    good = _perfect()
    once().preprocess(good, {})  # a valid notebook passes
    for corrupt in ("lots", None):
        bad = _perfect()
        graded = next(c for c in bad.cells if c.metadata.get("nbgrader", {}).get("grade"))
        graded.metadata["nbgrader"]["points"] = corrupt
        with pytest.raises(ValidationError):
            MetadataValidator().validate_nb(bad)  # nbgrader's own check refuses it
        with pytest.raises(ValidationError, match="metadata may be corrupted"):
            once().preprocess(bad, {})


def test_killed_run_resumes_and_loses_nothing(corpus, tmp_path):
    subset = ["correct", "partial", "untouched"]
    subs = tmp_path / "submissions"
    for student in subset:
        shutil.copytree(corpus["submissions"] / student, subs / student)
    work = tmp_path / "work"
    cmd = [
        sys.executable,
        "-m",
        "autograder.cli",
        "--workdir",
        str(work),
        "grade",
        SLUG,
        "--submissions",
        str(subs),
        "--out",
        str(tmp_path / "out"),
        "--workers",
        "1",
        "--sandbox",
        corpus["mode"],
    ]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    results = CoursePaths(workdir=work).results_dir(SLUG)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(results.glob("*.json"))) < 1:
        time.sleep(0.5)
    import os

    os.killpg(proc.pid, signal.SIGKILL)  # the whole run, its workers and kernels
    proc.wait()
    graded_before = {p.stem for p in results.glob("*.json")}
    assert 1 <= len(graded_before) < len(subset), "the kill should land mid-run"
    stamps = {s: (results / f"{s}.json").stat().st_mtime_ns for s in graded_before}
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    resumed = _read(tmp_path / "out" / "grades.csv")
    for student in subset:
        assert resumed[student] == corpus["grades"][student], student
    for student, stamp in stamps.items():  # not graded twice
        assert (results / f"{student}.json").stat().st_mtime_ns == stamp


def test_manual_grades_survive_a_regrade(corpus, tmp_path):
    """A manual grade entered in formgrader is kept by a forced regrade, and formgrader does
    not ask for it again while the submission is unchanged."""
    from formgrader import enter_manual_grade
    from nbgrader.api import Gradebook

    from autograder.course import nbgrader_config

    subs = tmp_path / "submissions"
    shutil.copytree(corpus["submissions"] / "correct", subs / "correct")
    paths = CoursePaths(workdir=tmp_path / "work")
    settings = GradeSettings(workers=1, limits=_limits(corpus["mode"]), progress=False)
    grade(SLUG, subs, tmp_path / "out", paths, settings)
    db = str(nbgrader_config(paths).CourseDirectory.db_url)
    manual_ids = _manual_ids(_release())
    assert manual_ids, "assignment 01 has a manually graded answer"
    with Gradebook(db) as gb:
        assert gb.find_grade(manual_ids[0], NAME[:-6], SLUG, "correct").needs_manual_grade
    shown = enter_manual_grade(
        db, SLUG, "correct", NAME[:-6], manual_ids[0], 1.5, "clear, cites the formula"
    )
    assert shown["manual_score"] == 1.5 and not shown["needs_manual_grade"]
    settings.force = True
    grade(SLUG, subs, tmp_path / "out", paths, settings)
    with Gradebook(db) as gb:
        kept = gb.find_grade(manual_ids[0], NAME[:-6], SLUG, "correct")
        assert kept.manual_score == 1.5
        assert not kept.needs_manual_grade, "formgrader would ask for the kept grade again"
        comment = gb.find_comment(manual_ids[0], NAME[:-6], SLUG, "correct")
        assert comment.manual_comment == "clear, cites the formula"
    row = _read(tmp_path / "out" / "grades.csv")["correct"]
    assert float(row["total"]) == pytest.approx(float(corpus["grades"]["correct"]["total"]) + 1.5)
    run = json.loads((tmp_path / "out" / "grading-run.json").read_text())
    assert run["graded_now"] == 1


def test_rlimit_fallback_still_bounds_time_and_memory(corpus, tmp_path):
    """Without bubblewrap: limits and statuses hold (files and network are not hidden)."""
    subset = ["correct", "infinite-loop", "memory-bomb", "monkey-patch"]
    subs = tmp_path / "submissions"
    for student in subset:
        shutil.copytree(corpus["submissions"] / student, subs / student)
    grade(
        SLUG,
        subs,
        tmp_path / "out",
        CoursePaths(workdir=tmp_path / "work"),
        GradeSettings(workers=2, limits=_limits("rlimit"), progress=False),
    )
    again = _read(tmp_path / "out" / "grades.csv")
    for student in subset:
        assert again[student]["status"] == corpus["cases"][student]["status"], student
    assert again["correct"]["total"] == corpus["grades"]["correct"]["total"]
