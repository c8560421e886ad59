"""The gradebook in PostgreSQL, as the instructor guide sets it up, against a real server.

A throwaway PostgreSQL cluster is created for the session: Debian's `postgresql` package
(installed with apt-get when missing and we are root), `initdb` in a temporary folder, run
by a non-root user (`postgres`, or `nobody`, when the tests run as root), listening on a
free port of 127.0.0.1 only, with password authentication. It is stopped and deleted at the
end. Against it, with `ECOMREC_GRADEBOOK_URL=postgresql://...` as the guide writes it:
`course release`; then with `course --db postgresql://... grade --workers 2` (two workers
writing the gradebook at once); grades.csv, `nbgrader export` and `course report`.
Assignment 01 (the cheapest) with three submissions.
"""

from __future__ import annotations

import csv
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from debian import apt_install, can_install
from nbgrader.api import Gradebook
from nbgrader.utils import is_grade, is_solution

from autograder.checks import perfect_submission

pytestmark = pytest.mark.grading  # tier: not in `make test-fast`

ROOT = Path(__file__).resolve().parents[1]
SLUG = "01-data-and-profiles"
SOURCE = ROOT / "solutions" / SLUG / f"{SLUG}.ipynb"
RELEASE = ROOT / "exercises" / SLUG / f"{SLUG}.ipynb"
BIN = Path(sys.executable).parent
USER, PASSWORD, DATABASE = "grader", "s3cret-for-tests", "ecomrec"
COMMAND_TIMEOUT = 900  # seconds; a hung command fails the test instead of hanging the run


# ----------------------------------------------------------------------------- the server
def _postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    return debian[-1].parent if debian else None


def _find_or_install_postgres() -> Path:
    bindir = _postgres_bindir()
    if bindir is not None:
        return bindir
    if not can_install():
        pytest.skip(
            "PostgreSQL is not installed and cannot be installed here (needs root and "
            "apt-get): install Debian's `postgresql` package (its initdb and pg_ctl) and rerun"
        )
    tail = apt_install("postgresql")
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.fail(f"`apt-get install postgresql` did not install initdb:\n{tail}", pytrace=False)
    return bindir


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner(cmd: list[str], owner: str | None) -> list[str]:
    """PostgreSQL refuses to run as root: run its commands as `owner` (None: as ourselves)."""
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


def _run(cmd: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    if proc.returncode != 0:
        pytest.fail(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    return proc


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL server for this session; yields the gradebook URL the guide uses."""
    bindir = _find_or_install_postgres()
    owner = None
    if os.geteuid() == 0:
        owner = next(u for u in ("postgres", "nobody") if _user_exists(u))
    base = Path(tempfile.mkdtemp(prefix="ecomrec-postgres-"))
    data, pwfile, log = base / "data", base / "password", base / "server.log"
    pwfile.write_text(PASSWORD + "\n")
    if owner:
        account = pwd.getpwnam(owner)
        for path in (base, pwfile):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = _free_port()
    initdb = [
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        USER,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--no-instructions",
    ]
    _run(_as_owner(initdb, owner), "initdb", cwd=base)
    # 127.0.0.1 only; the Unix socket in our folder, not the system's /var/run/postgresql
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {base}"
    pg_ctl = str(bindir / "pg_ctl")
    start = [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
    _run(_as_owner(start, owner), "starting PostgreSQL", cwd=base)
    try:
        import psycopg

        server = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}"
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")  # the guide: the database must exist
        yield f"{server}/{DATABASE}"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]
        subprocess.run(_as_owner(stop, owner), capture_output=True, cwd=base, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


# ------------------------------------------------------------------------- the course
def _graded_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and is_grade(c) and not is_solution(c)]


def _answer_ids(nb) -> list[str]:
    return [
        c.metadata.nbgrader.grade_id for c in nb.cells if c.cell_type == "code" and is_solution(c)
    ]


def _partial_points(release, answer_id: str) -> float:
    """Points of the test cells between `answer_id` and the next answer cell."""
    points, inside = 0.0, False
    for cell in release.cells:
        if cell.cell_type == "code" and is_solution(cell):
            inside = cell.metadata.nbgrader.grade_id == answer_id
        elif inside and cell in _graded_cells(release):
            points += float(cell.metadata.nbgrader.points)
    return points


@pytest.fixture(scope="module")
def graded(postgres_url, tmp_path_factory):
    """Release, then grade three students with two workers, all against PostgreSQL."""
    base = tmp_path_factory.mktemp("postgres-course")
    workdir = base / "work"
    env = dict(  # the guide's first form: export ECOMREC_GRADEBOOK_URL=postgresql://...
        os.environ,
        ECOMREC_GRADEBOOK_URL=postgres_url,
        ECOMREC_GRADER_WORKDIR=str(workdir),
        JUPYTER_CONFIG_PATH=str(ROOT / "autograder"),  # how nbgrader's commands find the course
        PYTHONPATH=str(ROOT),
    )
    _course(["release", SLUG], env)

    perfect, untouched = perfect_submission(SOURCE, RELEASE), nbformat.read(RELEASE, 4)
    first_answer = _answer_ids(untouched)[0]
    partial = nbformat.read(RELEASE, 4)
    for cell in partial.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == first_answer:
            cell.source = next(
                c.source
                for c in perfect.cells
                if c.metadata.nbgrader.get("grade_id") == first_answer
            )
    full = sum(float(c.metadata.nbgrader.points) for c in _graded_cells(untouched))
    students = {
        "alice": (perfect, full),
        "bob": (untouched, 0.0),
        "carol": (partial, _partial_points(untouched, first_answer)),
    }
    submissions = base / "submissions"
    for student, (nb, _) in students.items():
        (submissions / student / SLUG).mkdir(parents=True)
        nbformat.write(nb, submissions / student / SLUG / RELEASE.name)
    out = base / "out"
    without_url = {k: v for k, v in env.items() if k != "ECOMREC_GRADEBOOK_URL"}
    grade = _course(  # the guide's second form: course --db postgresql://... grade ...
        ["--db", postgres_url, "grade", SLUG, "--submissions", str(submissions)]
        + ["--out", str(out), "--workers", "2", "--timeout", "60", "--wall", "300"],
        without_url,
    )
    return {
        "url": postgres_url,
        "env": env,
        "base": base,
        "workdir": workdir,
        "out": out,
        "expected": {s: points for s, (_, points) in students.items()},
        "grade_output": grade,
    }


def _course(args: list[str], env: dict) -> str:
    """Run `course ARGS` (this checkout's); fail with its output unless it succeeds."""
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, f"course {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_the_guides_url_reaches_postgresql_through_psycopg(postgres_url):
    """`postgresql://` is SQLAlchemy's psycopg (3) dialect: the driver the course declares."""
    from sqlalchemy import create_engine, text

    engine = create_engine(postgres_url)
    assert engine.dialect.driver == "psycopg"
    with engine.connect() as conn:
        version = conn.execute(text("SHOW server_version")).scalar()
        address = conn.execute(text("SELECT inet_server_addr()")).scalar()
    engine.dispose()
    assert re.match(r"\d+", version)
    assert str(address) == "127.0.0.1"


def test_release_writes_the_assignment_into_postgresql(graded):
    release = nbformat.read(RELEASE, 4)
    expected = {c.metadata.nbgrader.grade_id for c in release.cells if is_grade(c)}
    with Gradebook(graded["url"]) as gb:
        assignment = gb.find_assignment(SLUG)
        cells = {cell.name for nb in assignment.notebooks for cell in nb.grade_cells}
    assert cells == expected


def test_parallel_grading_writes_every_student_to_postgresql(graded):
    with Gradebook(graded["url"]) as gb:
        scores = {s: gb.find_submission(SLUG, s).score for s in graded["expected"]}
    assert scores == pytest.approx(graded["expected"]), graded["grade_output"]
    assert graded["expected"]["alice"] > graded["expected"]["carol"] > 0
    # nothing was written to a SQLite gradebook on the side
    assert not list(graded["workdir"].rglob("*.db")), list(graded["workdir"].rglob("*.db"))


def test_grades_csv_comes_from_postgresql(graded):
    rows = {r["student_id"]: r for r in _rows(graded["out"] / "grades.csv")}
    assert set(rows) == set(graded["expected"])
    for student, points in graded["expected"].items():
        assert rows[student]["status"] == "ok", rows[student]
        assert float(rows[student]["total"]) == pytest.approx(points), student


def test_nbgrader_export_reads_postgresql(graded, tmp_path):
    target = tmp_path / "export.csv"
    proc = subprocess.run(
        [str(BIN / "nbgrader"), "export", f"--to={target}"],
        cwd=ROOT,
        env=graded["env"],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exported = {r["student_id"]: r for r in _rows(target) if r["assignment"] == SLUG}
    assert set(exported) == set(graded["expected"])
    grades = {r["student_id"]: r for r in _rows(graded["out"] / "grades.csv")}
    for student, points in graded["expected"].items():
        assert float(exported[student]["score"]) == pytest.approx(points), student
        assert float(exported[student]["max_score"]) == float(grades[student]["max_total"])


def test_course_report_on_the_postgresql_grades(graded):
    grades, report = graded["out"] / "grades.csv", graded["out"] / "report"
    _course(["report", SLUG, "--grades", str(grades), "--out", str(report)], graded["env"])
    page = report / "report.md"
    assert page.is_file()
    assert (report / "scores.png").stat().st_size > 5000
