"""Debian packages the tests need and install themselves when missing (chromium for the
browser tests, postgresql for the gradebook tests): only as root with apt-get, as in CI."""

from __future__ import annotations

import os
import shutil
import subprocess


def can_install() -> bool:
    """True when this process may install Debian packages (root, with apt-get)."""
    return shutil.which("apt-get") is not None and os.geteuid() == 0


def apt_install(package: str) -> str:
    """`apt-get install -y PACKAGE`, refreshing stale package lists once; returns the tail of
    apt's output, for the caller's error message when the package still is not there."""
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise RuntimeError(f"cannot install {package}: needs root and apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = [apt, "install", "-y", "-q", package]
    proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, check=False)
        proc = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    return "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
