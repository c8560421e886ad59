"""`course grade --cluster ADDRESS`: each student graded by a worker of a Dask cluster.

The client (`course grade`) decides who needs grading, exactly as with `--workers`, and
submits one task per student to the scheduler at ADDRESS. A task runs on a Dask worker and
hands the student to that worker's own long-lived grading process (`autograder.worker
--serve`, one per Dask worker thread), through the same `grade_one` that `--workers` uses:
the same sandboxed kernel, limits, result file and feedback. So every Dask worker must see
the course checkout, the grading folder and the submissions at the same paths as the
client (a shared filesystem), and have the course's environment and bubblewrap.

A Dask worker that dies mid-task loses nothing: the scheduler gives the task to another
worker, which grades the student from the start (the result is written last), and the
dead worker's grading process dies with it (see `autograder.worker._die_with_parent`). A
task that fails on every worker it is tried on is recorded as `crashed`, with the reason.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

from autograder.course import CoursePaths
from autograder.grading import (
    GradeSettings,
    GradingProcess,
    failed_result,
    grade_one,
)
from autograder.worker import write_result

_local = threading.local()  # this Dask worker thread's grading process


class ClusterWorkerError(RuntimeError):
    """A Dask worker cannot grade here; the message says what to fix on it."""


def _check_worker(paths: CoursePaths, submissions: Path, sandbox: str) -> None:
    host = socket.gethostname()
    for what, folder in (
        ("the course checkout", paths.root),
        ("the grading folder", paths.workdir),
        ("the submissions folder", submissions),
    ):
        if not folder.is_dir():
            raise ClusterWorkerError(
                f"Dask worker on {host} cannot see {what} {folder}: every worker needs the "
                "same paths as `course grade` (a shared filesystem, see the instructor guide)"
            )
    if sandbox == "bwrap":
        from autograder.sandbox import bwrap_available

        if not getattr(_local, "bwrap", None):
            _local.bwrap = bwrap_available()
        if not _local.bwrap:
            raise ClusterWorkerError(
                f"Dask worker on {host} has no working bubblewrap: install the Debian package "
                "`bubblewrap` there, or grade with --sandbox rlimit (weaker, see the guide)"
            )


def grade_task(
    slug: str,
    student: str,
    submissions: str,
    root: str,
    workdir: str,
    settings: GradeSettings,
    n_notebooks: int,
    db_url: str,
) -> dict:
    """One student, run on a Dask worker (the function the client submits)."""
    paths = CoursePaths(root=Path(root), workdir=Path(workdir))
    _check_worker(paths, Path(submissions), settings.limits.sandbox)
    process = getattr(_local, "process", None)
    if process is None:
        name = f"dask-{socket.gethostname()}-{os.getpid()}-{threading.get_ident()}.log"
        process = _local.process = GradingProcess(paths.root, paths.logs_dir(slug) / name)
    return grade_one(
        process, slug, student, Path(submissions), paths, settings, n_notebooks, db_url
    )


def grade_on_cluster(
    address: str,
    slug: str,
    todo: list[str],
    submissions: Path,
    paths: CoursePaths,
    settings: GradeSettings,
    n_notebooks: int,
    db_url: str,
    on_result: Callable[[str, dict], None],
) -> int:
    """Grade `todo` on the Dask cluster at `address`; returns how many workers it had."""
    from distributed import Client, as_completed

    from autograder.grading import CourseError

    try:
        client = Client(address, timeout=30)
    except OSError as err:
        raise CourseError(
            f"cannot reach the Dask scheduler at {address} ({err}): start it (see the "
            "instructor guide) or check the address"
        ) from None
    with client:
        workers = len(client.scheduler_info().get("workers", {}))
        run = uuid.uuid4().hex[:8]
        futures = {
            client.submit(
                grade_task,
                slug,
                student,
                str(submissions),
                str(paths.root),
                str(paths.workdir),
                settings,
                n_notebooks,
                db_url,
                key=f"grade-{slug}-{student}-{run}",
                retries=0,
            ): student
            for student in todo
        }
        for future in as_completed(futures):
            student = futures[future]
            try:
                result = future.result()
            except Exception as err:  # KilledWorker, ClusterWorkerError: recorded, not fatal
                why = f"grading on the Dask cluster failed: {type(err).__name__}: {err}"
                result = failed_result(slug, student, submissions, db_url, "crashed", why[:500])
                write_result(paths, result)
            on_result(student, result)
    return workers
