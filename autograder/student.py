"""What students get: their own working copy of the exercises, and a repository without solutions.

- `start_work` (run by `make lab`): copies into the git-ignored `my-work/` every file of
  `exercises/` the student does not have yet, and never overwrites one they have. Students
  edit and validate there, so `exercises/` (generated, tracked) stays untouched and a later
  `git pull` brings new releases without colliding with their answers.
- `student_copy` (`course student-copy DEST`, `make student-repo DEST=...`): writes the
  repository as students should clone it: every file git tracks, except `solutions/` and
  the other instructor-only files in `INSTRUCTOR_ONLY`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from autograder.course import CoursePaths

WORK_FOLDER = "my-work"  # git-ignored; the student lab's home for the exercises
# Left out of the students' repository: the nbgrader sources (solutions and hidden tests),
# the test suite (it holds reference implementations of the answers, to check the
# assignments against) and the CI that runs it (it would fail without the sources).
INSTRUCTOR_ONLY = ("solutions/", "tests/", ".ci/", ".github/workflows/tests.yml")


class StudentCopyError(RuntimeError):
    """The student copy cannot be written; the message says why and what to do."""


def start_work(paths: CoursePaths | None = None, work: Path | None = None) -> list[Path]:
    """Copy the release files missing from `work` (default my-work/); return the new files."""
    paths = paths or CoursePaths()
    work = work or paths.root / WORK_FOLDER
    copied = []
    for src in sorted(p for p in paths.exercises.rglob("*") if p.is_file()):
        rel = src.relative_to(paths.exercises)
        if any(part.startswith(".") for part in rel.parts):  # .ipynb_checkpoints and the like
            continue
        dest = work / rel
        if dest.exists():  # the student's file, possibly with their answers: never replaced
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        copied.append(dest)
    return copied


def tracked_files(root: Path, untracked: bool = False) -> list[Path]:
    """The files git tracks in `root` (as they are on disk), relative to `root`; with
    `untracked`, also the new files git does not ignore (what the next commit could hold)."""
    others = ["--others", "--exclude-standard"] if untracked else []
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", *others],
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError as err:
        raise StudentCopyError("git is not installed; the student copy needs git") from err
    if proc.returncode != 0:
        raise StudentCopyError(
            f"{root} is not a git checkout ({proc.stderr.strip()}); run this in a clone of "
            "the course repository"
        )
    files = [Path(name) for name in proc.stdout.split("\0") if name]
    return [f for f in files if (root / f).is_file()]  # not files deleted since the last commit


def is_instructor_only(rel: Path) -> bool:
    name = rel.as_posix()
    return any(name == p or (p.endswith("/") and name.startswith(p)) for p in INSTRUCTOR_ONLY)


def student_copy(dest: Path, paths: CoursePaths | None = None) -> list[Path]:
    """Write the repository students should clone into `dest`; return the files written.

    Every tracked file is copied as it is on disk, except `INSTRUCTOR_ONLY`. Untracked and
    git-ignored files (the grading work folder, .venv, my-work/) are left out, and so is the
    git history, which holds solutions/: make `dest` a new repository (`git init`).
    """
    paths = paths or CoursePaths()
    root = paths.root.resolve()
    dest = Path(dest).resolve()
    if dest == root or dest.is_relative_to(root):
        raise StudentCopyError(
            f"{dest} is inside the course repository: choose a folder outside it, e.g. "
            f"{root.parent / (root.name + '-students')}"
        )
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StudentCopyError(
            f"{dest} already exists and is not an empty folder: choose a new folder "
            "(nothing was written)"
        )
    files = [f for f in tracked_files(root) if not is_instructor_only(f)]
    written = []
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
        written.append(target)
    return written


if __name__ == "__main__":  # `make lab`
    new = start_work()
    paths = CoursePaths()
    if new:
        print(f"Copied {len(new)} exercise file(s) into {WORK_FOLDER}/ (your copy, git-ignored):")
        for path in new:
            print(f"  {path.relative_to(paths.root)}")
    print(f"Work on the exercises in {WORK_FOLDER}/<assignment>/, not in exercises/.")
