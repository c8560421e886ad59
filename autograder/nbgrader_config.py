"""nbgrader configuration for the course (used by `course`, `nbgrader` and JupyterLab).

`make lab` and the `course` command point Jupyter at this folder (JUPYTER_CONFIG_PATH),
so nbgrader's assignment list, Validate button and formgrader all see this course.

- Source (instructor) notebooks: solutions/<slug>/; student releases: exercises/<slug>/.
- Submissions, autograded copies, feedback and the SQLite gradebook live in the
  git-ignored top-level folder grading/ (see grading/README.md; override with
  ECOMREC_GRADER_WORKDIR).
- The gradebook can be any SQLAlchemy URL: set ECOMREC_GRADEBOOK_URL, e.g.
  postgresql://grader:secret@localhost/ecomrec, or pass --db to `course`.
"""

import os
import sys
from pathlib import Path

from autograder.course import CoursePaths, tools_path
from autograder.limits import GradingLimits

ROOT = Path(__file__).resolve().parents[1]
WORKDIR = Path(os.environ.get("ECOMREC_GRADER_WORKDIR", ROOT / "grading"))
WORKDIR.mkdir(parents=True, exist_ok=True)  # SQLite cannot create the gradebook's folder

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

# nbgrader creates a new gradebook by running `alembic` from PATH, which lacks the
# virtualenv's scripts when it is not activated (`make lab-instructor` on a fresh clone):
# formgrader's assignment list then failed with "No such file or directory: 'alembic'".
os.environ["PATH"] = tools_path()

c.CourseDirectory.course_id = "ecomrec"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = str(WORKDIR / "submitted")
c.CourseDirectory.autograded_directory = str(WORKDIR / "autograded")
c.CourseDirectory.feedback_directory = str(WORKDIR / "feedback")
c.CourseDirectory.db_url = os.environ.get(
    "ECOMREC_GRADEBOOK_URL", f"sqlite:///{WORKDIR / 'gradebook.db'}?timeout=120"
)
# A course on one machine (or a shared JupyterHub volume): the exchange folder for
# nbgrader's release/fetch/submit/collect lives in the work folder unless set here.
# nbgrader's Assignments panel ("Error fetching courses!") and formgrader's Release and
# Collect buttons fail until the folder exists, and only `nbgrader release_assignment`
# creates it: create it here, world-writable as that command would make it, so that every
# user of a shared machine can fetch and submit through it.
EXCHANGE = Path(os.environ.get("ECOMREC_EXCHANGE", WORKDIR / "exchange"))
if not EXCHANGE.is_dir():
    try:
        EXCHANGE.mkdir(parents=True)
        EXCHANGE.chmod(0o777)
    except OSError as err:  # e.g. a shared volume only its owner may create
        print(
            f"nbgrader_config.py: cannot create the exchange folder {EXCHANGE} ({err}); "
            "create it with mode 777 (mkdir -p DIR && chmod 777 DIR) or set ECOMREC_EXCHANGE",
            file=sys.stderr,
        )
c.Exchange.root = str(EXCHANGE)
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

# Student stubs: what replaces the code between BEGIN/END SOLUTION on release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A deleted test cell is put back from the source before grading.
c.OverwriteCells.add_missing_cells = True
# Students validate with the visible tests; grading adds the hidden ones.
c.Execute.timeout = GradingLimits().cell_timeout
c.Validator.validate_all = True
# Feedback shows students their answers, scores and the visible tests, never the hidden ones,
# under the grading status `course grade` gave (from its results in grading/state/).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "autograder.feedback.ShortTracebacks",
    "autograder.feedback.GradingStatus",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GradingStatus.results_dir = str(CoursePaths(root=ROOT, workdir=WORKDIR).results_root)
