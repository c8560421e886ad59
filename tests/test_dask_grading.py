"""`course grade --cluster`: grading on a real Dask cluster gives the grades `--workers 1` gives.

A LocalCluster of two separate worker processes (loopback only, no dashboard) grades a few
submissions of assignment 01 built as in tests/test_grading.py; then a worker is killed with
SIGKILL while it grades a student, and the run still grades every student, to the same grades.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_grading import SLUG, Server, _limits, _read, build_corpus

from autograder.course import ROOT, CoursePaths
from autograder.grading import GradeSettings, grade
from autograder.sandbox import bwrap_available

pytestmark = pytest.mark.grading  # tier: not in `make test-fast`

distributed = pytest.importorskip("distributed")

STUDENTS = ["correct", "partial", "monkey-patch", "malformed"]
RUN_LIMIT = 900  # seconds a whole cluster run may take before the test fails


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A few submissions and their grades with one local worker (what `--workers 1` runs)."""
    base = tmp_path_factory.mktemp("dask")
    server = Server()
    build_corpus(base / "all", server.port)
    server.close()
    subs = base / "submissions"
    for student in STUDENTS:
        shutil.copytree(base / "all" / student, subs / student)
    mode = "bwrap" if bwrap_available() else "rlimit"
    settings = GradeSettings(workers=1, limits=_limits(mode), progress=False)
    grade(SLUG, subs, base / "out", CoursePaths(workdir=base / "work"), settings)
    return {"submissions": subs, "mode": mode, "grades": _read(base / "out" / "grades.csv")}


@pytest.fixture
def cluster():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as local,
        Client(local) as client,
    ):
        yield local, client


def _grade_on(address: str, reference, tmp_path: Path) -> subprocess.Popen:
    """Start `course grade --cluster ADDRESS`, with the limits the reference was graded with."""
    limits = _limits(reference["mode"])
    cmd = [
        *(sys.executable, "-m", "autograder.cli", "--workdir", str(tmp_path / "work")),
        *("grade", SLUG, "--submissions", str(reference["submissions"])),
        *("--out", str(tmp_path / "out"), "--cluster", address, "--sandbox", reference["mode"]),
        *("--timeout", str(limits.cell_timeout), "--wall", str(limits.notebook_wall)),
        *("--memory", str(limits.memory_mb)),
    ]
    return subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _finish(proc: subprocess.Popen, seconds: float) -> str:
    try:
        output, _ = proc.communicate(timeout=max(1.0, seconds))
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"grading on the cluster took more than {RUN_LIMIT} s")
    assert proc.returncode == 0, output[-3000:]
    return output


def test_cluster_grades_like_one_local_worker(reference, cluster, tmp_path):
    local, _ = cluster
    _finish(_grade_on(local.scheduler_address, reference, tmp_path), RUN_LIMIT)
    grades = _read(tmp_path / "out" / "grades.csv")
    assert grades == reference["grades"]
    run = json.loads((tmp_path / "out" / "grading-run.json").read_text())
    assert run["cluster"] == local.scheduler_address and run["workers"] == 2
    assert run["graded_now"] == len(STUDENTS)
    for student in STUDENTS:  # each student's feedback, built on the worker that graded them
        pages = list((tmp_path / "out" / "feedback" / student).glob("*.html"))
        assert pages and "Grading status" in pages[0].read_text(), student


def test_killed_worker_loses_no_student(reference, cluster, tmp_path):
    local, client = cluster
    results = CoursePaths(workdir=tmp_path / "work").results_dir(SLUG)
    proc = _grade_on(local.scheduler_address, reference, tmp_path)
    deadline = time.monotonic() + RUN_LIMIT
    victim = None
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        busy = {w: keys for w, keys in client.processing().items() if keys}
        graded = len(list(results.glob("*.json"))) if results.is_dir() else 0
        if graded >= 1 and busy:  # mid-run: one student done, another being graded
            victim = next(iter(busy))
            pid = client.run(os.getpid, workers=[victim])[victim]
            graded_at_kill = graded
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    assert victim is not None, "the kill should land mid-run"
    assert graded_at_kill < len(STUDENTS)
    _finish(proc, deadline - time.monotonic())
    grades = _read(tmp_path / "out" / "grades.csv")
    assert grades == reference["grades"], "a student lost or graded differently after the kill"
    assert {p.stem for p in results.glob("*.json")} == set(STUDENTS)
