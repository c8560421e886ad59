"""Where the course's files are, and the nbgrader configuration `course` runs with.

Runtime state lives in the git-ignored top-level folder `grading/` (see grading/README.md),
or in $ECOMREC_GRADER_WORKDIR: nbgrader's `submitted/`, `autograded/` and `feedback/`
folders, `grades/<slug>/` (what `course grade` writes), the gradebook, `logs/`, the
exchange and `state/` (the resume cache and staged copies).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]
CONFIG_FILE = ROOT / "autograder" / "nbgrader_config.py"


def default_workdir() -> Path:
    return Path(os.environ.get("ECOMREC_GRADER_WORKDIR", ROOT / "grading"))


def tools_path(path: str | None = None) -> str:
    """PATH with this environment's scripts first: nbgrader runs `alembic` (and Jupyter its
    kernels) from PATH, which lacks them when the virtualenv is not activated."""
    path = os.environ.get("PATH", "") if path is None else path
    scripts = str(Path(sys.executable).parent)
    return path if scripts in path.split(os.pathsep) else scripts + os.pathsep + path


@dataclass(frozen=True)
class CoursePaths:
    root: Path = ROOT
    workdir: Path = field(default_factory=default_workdir)

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    def source_notebooks(self, slug: str) -> list[Path]:
        return sorted((self.solutions / slug).glob("*.ipynb"))

    def release_notebooks(self, slug: str) -> list[Path]:
        return sorted((self.exercises / slug).glob("*.ipynb"))

    def grades_dir(self, slug: str) -> Path:
        """Where `course grade` writes grades.csv and feedback unless --out says otherwise."""
        return self.workdir / "grades" / slug

    def logs_dir(self, slug: str) -> Path:
        return self.workdir / "logs" / slug

    @property
    def state(self) -> Path:
        """Private to `course grade`: the resume cache, the staged copies it grades and the
        stamps of the gradebook entries it generated."""
        return self.workdir / "state"

    @property
    def results_root(self) -> Path:
        """The resume cache: one JSON per student and assignment (status, reason, digests)."""
        return self.state / "results"

    def results_dir(self, slug: str) -> Path:
        return self.results_root / slug

    def status_dir(self, slug: str, student: str) -> Path:
        return self.state / "status" / slug / student

    def staging_dir(self, slug: str) -> Path:
        """nbgrader's `submitted` folder as the worker sees it: copies, never the submissions."""
        return self.state / "staged" / slug


def assignments(paths: CoursePaths | None = None) -> list[str]:
    paths = paths or CoursePaths()
    if not paths.solutions.is_dir():
        return []
    return sorted(p.name for p in paths.solutions.iterdir() if list(p.glob("*.ipynb")))


def nbgrader_config(paths: CoursePaths, db_url: str | None = None) -> Config:
    """The course's nbgrader_config.py, pointed at `paths.workdir` (and `db_url` if given)."""
    previous = os.environ.get("ECOMREC_GRADER_WORKDIR")
    os.environ["ECOMREC_GRADER_WORKDIR"] = str(paths.workdir)
    try:
        loader = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent))
        cfg = loader.load_config()
    finally:
        if previous is None:
            os.environ.pop("ECOMREC_GRADER_WORKDIR", None)
        else:
            os.environ["ECOMREC_GRADER_WORKDIR"] = previous
    cfg.CourseDirectory.root = str(paths.root)
    if db_url:
        cfg.CourseDirectory.db_url = db_url
    paths.workdir.mkdir(parents=True, exist_ok=True)
    return cfg
