"""Grading is safe and loses nothing: an adversarial corpus built from the release notebook.

Every kind of bad submission an instructor meets is built here from assignment 01's
release (the cheapest assignment), graded once in parallel, and checked for its score and
status. Then: --workers 1 gives the same grades, a killed run resumes to the same grades,
manual grades survive a regrade, submissions are never modified.
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
from pathlib import Path

import nbformat
import pytest

from autograder.checks import perfect_submission
from autograder.course import CoursePaths
from autograder.grading import GradeSettings, grade
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


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _answer_ids(nb) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def _test_ids(nb) -> list[str]:
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "code"
        and c.metadata.get("nbgrader", {}).get("grade")
        and not c.metadata["nbgrader"].get("solution")
    ]


def _tests_after(nb, answer_id) -> list[str]:
    """The test cells between an answer cell and the next answer cell."""
    found, out = False, []
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade_id") == answer_id:
            found = True
        elif found and c.cell_type == "code" and meta.get("solution"):
            break
        elif found and meta.get("grade") and not meta.get("solution"):
            out.append(meta["grade_id"])
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

    put(
        "malformed",
        raw='{"cells": [ this is not json',
        expect={"status": "invalid-notebook", "auto": 0.0},
    )
    put(
        "renamed",
        perfect,
        name="my-assignment.ipynb",
        expect={"status": "missing-notebook", "auto": 0.0},
    )
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
    return sum(
        float(c.metadata["nbgrader"].get("points", 0))
        for c in _release().cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")
    )


SETTINGS = dict(timeout=30, wall=150, memory_mb=2048)


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
        GradeSettings(workers=2, sandbox=mode, progress=False, **SETTINGS),
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
    assert "missing" in g["renamed"]["reason"] and "my-assignment.ipynb" in g["renamed"]["reason"]
    assert "not a valid notebook" in g["malformed"]["reason"]
    assert "time limit" in g["infinite-loop"]["reason"]
    assert "memory" in g["memory-bomb"]["reason"]
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
    from autograder.report import write_report

    page = write_report(SLUG, corpus["base"] / "out" / "grades.csv", tmp_path)
    text = page.read_text()
    assert (tmp_path / "scores.png").stat().st_size > 5000
    assert (tmp_path / "failure-rates.png").stat().st_size > 5000
    assert f"{len(corpus['cases'])} students" in text
    assert "| tampered |" in text


def test_one_worker_gives_the_same_grades(corpus, tmp_path):
    subset = ["correct", "partial", "wrong-visible-ok", "monkey-patch", "malformed"]
    subs = tmp_path / "submissions"
    for student in subset:
        shutil.copytree(corpus["submissions"] / student, subs / student)
    grade(
        SLUG,
        subs,
        tmp_path / "out",
        CoursePaths(workdir=tmp_path / "work"),
        GradeSettings(workers=1, sandbox=corpus["mode"], progress=False, **SETTINGS),
    )
    again = _read(tmp_path / "out" / "grades.csv")
    for student in subset:
        first = {k: v for k, v in corpus["grades"][student].items()}
        assert again[student] == first, student


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
    results = work / "results" / SLUG
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
    from nbgrader.api import Gradebook

    from autograder.course import nbgrader_config

    subs = tmp_path / "submissions"
    shutil.copytree(corpus["submissions"] / "correct", subs / "correct")
    paths = CoursePaths(workdir=tmp_path / "work")
    settings = GradeSettings(workers=1, sandbox=corpus["mode"], progress=False, **SETTINGS)
    grade(SLUG, subs, tmp_path / "out", paths, settings)
    db = str(nbgrader_config(paths).CourseDirectory.db_url)
    manual_ids = [
        c.metadata["nbgrader"]["grade_id"]
        for c in _release().cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"].get("solution")
    ]
    assert manual_ids, "assignment 01 has a manually graded answer"
    with Gradebook(db) as gb:
        g = gb.find_grade(manual_ids[0], NAME[:-6], SLUG, "correct")
        g.manual_score = 1.5
        gb.db.commit()
    settings.force = True
    grade(SLUG, subs, tmp_path / "out", paths, settings)
    with Gradebook(db) as gb:
        assert gb.find_grade(manual_ids[0], NAME[:-6], SLUG, "correct").manual_score == 1.5
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
        GradeSettings(workers=2, sandbox="rlimit", progress=False, **SETTINGS),
    )
    again = _read(tmp_path / "out" / "grades.csv")
    for student in subset:
        assert again[student]["status"] == corpus["cases"][student]["status"], student
    assert again["correct"]["total"] == corpus["grades"]["correct"]["total"]
