"""The headless Chromium that the browser tests drive with Playwright (tests/test_site.py,
tests/test_lab.py): a system Chromium, installed from Debian's `chromium` package when it is
missing and we may (root with apt-get). Playwright's own browser download (`playwright
install`) is not possible here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from debian import apt_install, can_install

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
    if not can_install():
        pytest.fail(
            f"no Chromium at {CHROMIUM}, and it cannot be installed here (needs root and "
            "apt-get): install Debian's `chromium` package (apt-get install chromium), or set "
            "CHROMIUM_PATH to a Chromium or Chrome binary, and rerun",
            pytrace=False,
        )
    tail = apt_install("chromium")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"`apt-get install chromium` did not install {CHROMIUM}:\n{tail}", pytrace=False
        )
    return CHROMIUM
