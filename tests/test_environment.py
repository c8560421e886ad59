"""pyproject.toml, environment.yml and requirements.lock pin the same versions."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pins(requirements: list[str]) -> dict[str, str]:
    pins = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", req.strip())
        assert match, f"{req!r} is not pinned with =="
        name = re.sub(r"\[.*\]$", "", match.group(1))  # the lock pins psycopg[binary] as psycopg
        pins[name.lower().replace("_", "-")] = match.group(2)
    return pins


def _pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = project["dependencies"] + [
        r for extra in project["optional-dependencies"].values() for r in extra
    ]
    return _pins(reqs)


def test_environment_yml_lists_the_same_pins_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "python=3.11" in conda
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == _pyproject_pins()


def test_lock_agrees_with_the_direct_pins():
    lines = (ROOT / "requirements.lock").read_text().splitlines()
    lock = _pins([ln for ln in lines if ln.strip() and not ln.startswith("#")])
    for name, version in _pyproject_pins().items():
        assert lock.get(name) == version, f"{name}: pyproject {version}, lock {lock.get(name)}"


def test_torch_is_pinned_to_the_cpu_release_the_course_supports():
    assert _pyproject_pins()["torch"] == "2.13.0"
