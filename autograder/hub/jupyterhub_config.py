"""JupyterHub configuration for the course on one machine (`make hub`, which writes the
settings this file reads; see autograder/hub/launch.py and the instructor guide).

- Everything listens on 127.0.0.1 only: the Hub's public port, its internal API and the proxy.
- Users log in with their local account's password (PAM); only the course's accounts may.
  The instructor is the Hub's admin.
- Each user's server runs as that user (JupyterHub's LocalProcessSpawner, which needs root),
  from the course environment, in their home folder, with the course's Jupyter configuration:
  the instructor's has every nbgrader tool on their copy of the course; students' is the
  student lab's (no instructor tools), with assignments fetched into their home.
"""

import os
from pathlib import Path

from autograder.hub.launch import SETTINGS_ENV, HubSettings, user_environment

settings = HubSettings.load(Path(os.environ[SETTINGS_ENV]))
state = Path(settings.state)

c = get_config()  # noqa: F821 (provided by traitlets when JupyterHub loads this file)

c.JupyterHub.bind_url = f"http://127.0.0.1:{settings.port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings.hub_port
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [settings.proxy]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")

c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no login session per server: nothing to clean up
c.Authenticator.allowed_users = set(settings.accounts)
c.Authenticator.admin_users = {settings.instructor}

c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(Path(settings.bin) / "jupyterhub-singleuser")]
c.Spawner.ip = "127.0.0.1"
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.env_keep = ["LANG", "LC_ALL"]  # nothing else from root's environment
# Terminals start bash as a plain interactive shell: a login shell would reset PATH from
# /etc/profile and lose the course environment (python, course, nbgrader).
c.Spawner.args = ['--ServerApp.terminado_settings=shell_command=["/bin/bash"]']
c.Spawner.start_timeout = 180  # a loaded machine starts JupyterLab slowly
c.Spawner.http_timeout = 180


def _course_environment(spawner):
    spawner.environment = {
        **spawner.environment,
        **user_environment(settings, spawner.user.name),
    }


c.Spawner.pre_spawn_hook = _course_environment

if settings.api_token_file:  # for scripts, e.g. tests/test_hub.py
    c.JupyterHub.services = [
        {"name": "course-admin", "api_token": Path(settings.api_token_file).read_text().strip()}
    ]
    c.JupyterHub.load_roles = [
        {
            "name": "course-admin",
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers"],
            "services": ["course-admin"],
        }
    ]
