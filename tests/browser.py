"""The headless Chromium that the browser tests drive with Playwright (tests/test_site.py,
tests/test_lab.py): a system Chromium, installed from Debian's `chromium` package when it is
missing and we may (root with apt-get). Playwright's own browser download (`playwright
install`) is not possible here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


def find_or_install_chromium() -> Path:
    """$CHROMIUM_PATH, else Debian's chromium (installed when missing)."""
    candidates = [os.environ.get("CHROMIUM_PATH"), str(CHROMIUM), "/usr/bin/chromium-browser"]
    for candidate in filter(None, candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.fail(
            f"no Chromium at {CHROMIUM}, and it cannot be installed here (needs root and "
            "apt-get): install Debian's `chromium` package (apt-get install chromium), or set "
            "CHROMIUM_PATH to a Chromium or Chrome binary, and rerun",
            pytrace=False,
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", "chromium"]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, check=False)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if not CHROMIUM.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        pytest.fail(
            f"`apt-get install chromium` did not install {CHROMIUM}:\n{tail}", pytrace=False
        )
    return CHROMIUM
