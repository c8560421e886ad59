"""The course on a JupyterHub on this machine (`make hub`; the instructor guide, "A class on
JupyterHub").

- `launch.py` (`python -m autograder.hub`): installs the proxy, creates the local accounts,
  the shared exchange and the students' copy of the course, checks that every account can run
  the course environment, then starts JupyterHub;
- `jupyterhub_config.py`: the Hub's configuration, read from the settings `launch.py` wrote;
- `student/`: the nbgrader setting students' servers add to the student lab's;
- `package.json`, `package-lock.json`: configurable-http-proxy and everything it pulls in,
  pinned exactly (installed with `npm ci` into `.hub/node_modules`).
"""
