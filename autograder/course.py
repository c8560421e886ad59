"""Where the course's files are, and the nbgrader configuration `course` runs with."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config, PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]

# nbgrader runs `alembic` (and Jupyter its kernels) from PATH: make this environment's
# scripts findable even when the virtualenv is not activated.
_BIN = str(Path(sys.executable).parent)
if _BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _BIN + os.pathsep + os.environ.get("PATH", "")
CONFIG_FILE = ROOT / "autograder" / "nbgrader_config.py"


@dataclass(frozen=True)
class CoursePaths:
    root: Path = ROOT
    workdir: Path = Path(os.environ.get("ECOMREC_GRADER_WORKDIR", ROOT / "autograder" / "work"))

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

    def results_dir(self, slug: str) -> Path:
        return self.workdir / "results" / slug

    def status_dir(self, slug: str, student: str) -> Path:
        return self.workdir / "status" / slug / student


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


def db_url_of(cfg: Config) -> str:
    return str(cfg.CourseDirectory.db_url)
