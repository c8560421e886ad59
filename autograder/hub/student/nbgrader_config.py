"""Students' servers on the course's JupyterHub put this folder first on JUPYTER_CONFIG_PATH,
before the student lab's (autograder/student-lab/) and the course's (autograder/). The student
lab fetches into my-work/ of the course folder; on the Hub that folder is a shared read-only
copy, so assignments are fetched into the student's home, the root of their lab."""

from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.Exchange.assignment_dir = str(Path.home())
