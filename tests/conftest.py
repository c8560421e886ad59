"""Shared fixtures. The strict book build runs once per test session: it executes every
lesson (through Jupyter Book's execution cache) and the lessons record their headline
numbers, which the lesson tests then read instead of running the notebooks again.

Tests are sorted into tiers by what they need: a test that uses the book build is marked
``book``, one that drives the site in a browser ``browser``, one that grades submissions in
the sandbox ``grading``; ``slow`` is marked by hand. `make test-fast` runs the rest, the unit
tests: ``pytest -m "not slow and not book and not browser and not grading"``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_LOG = ROOT / "_build" / "test-book-build.log"


# fixture -> the marker every test that uses it gets (directly or through another fixture)
TIER_OF_FIXTURE = {"built_book": "book", "site": "browser", "corpus": "grading"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in TIER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()):
                item.add_marker(marker)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--book-built",
        action="store_true",
        help="authors only: skip the strict book build and read the results already recorded "
        "(in $ECOMREC_RESULTS_DIR or _build/results); `make test` never passes it",
    )


@pytest.fixture(scope="session")
def built_book(request: pytest.FixtureRequest) -> Path:
    """Run the strict build that `make book` runs; return the html folder."""
    if request.config.getoption("--book-built"):
        return ROOT / "_build" / "html"
    jb = Path(sys.executable).parent / "jupyter-book"
    BUILD_LOG.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.pop("ECOMREC_RESULTS_DIR", None)  # lessons record into _build/results, where tests read
    with BUILD_LOG.open("w") as log:
        proc = subprocess.run(
            [str(jb), "build", ".", "-W", "-n", "--keep-going"],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    output = BUILD_LOG.read_text()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-60:])
        pytest.fail(
            f"strict book build failed (exit {proc.returncode}); full log in {BUILD_LOG}\n{tail}",
            pytrace=False,
        )
    return ROOT / "_build" / "html"
