"""The student lab's Jupyter configuration (`make lab` puts this folder first on
JUPYTER_CONFIG_PATH, before autograder/, whose nbgrader_config.py still applies):

- labconfig/page_config.json turns off nbgrader's instructor tools in JupyterLab
  (Formgrader, Create Assignment, the course list): students see the Assignments panel and
  the Validate button only;
- jupyter_server_config.json turns off their server side too, and hides exercises/ and
  solutions/ from the file browser;
- this file: assignments fetched from the Assignments panel land in my-work/<assignment>/,
  where `make lab` also copies the release from exercises/. Students work, validate and
  submit there, never in the tracked exercises/ folder.
"""

from pathlib import Path

from autograder.student import WORK_FOLDER

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

c.Exchange.assignment_dir = str(Path(__file__).resolve().parents[2] / WORK_FOLDER)
