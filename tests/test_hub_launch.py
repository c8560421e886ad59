"""`make hub`'s preparation (autograder/hub/launch.py), the parts that need no Hub: what it says
when it cannot start, which environment each account's server gets, and which folders block an
account. tests/test_hub.py runs the real Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.hub import launch
from autograder.hub.launch import HubError, HubSettings, user_environment


def test_without_node_and_npm_it_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "PROXY_DIR", tmp_path / ".hub")  # no proxy installed yet
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)
    with pytest.raises(HubError) as err:
        launch.find_or_install_proxy()
    message = str(err.value)
    assert f"configurable-http-proxy {launch.PROXY_VERSION}" in message
    assert "Node.js 20 or newer with npm" in message and "make hub again" in message


def test_a_node_older_than_20_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "PROXY_DIR", tmp_path / ".hub")
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho v18.19.0\n")
    node.chmod(0o755)
    monkeypatch.setattr(launch.shutil, "which", lambda name: str(node))
    with pytest.raises(HubError, match="needs Node.js 20 or newer; .* is v18.19.0"):
        launch.find_or_install_proxy()


def test_without_root_it_stops_and_says_why(monkeypatch, capsys):
    monkeypatch.setattr(launch.os, "geteuid", lambda: 1000)
    assert launch.main(["--prepare-only"]) == 2
    assert "make hub must run as root on Linux" in capsys.readouterr().err


def test_students_get_the_student_lab_and_their_copy_without_solutions(tmp_path):
    settings = HubSettings(
        state=str(tmp_path / "state"), shared=str(tmp_path / "shared"), instructor="root",
        students=["nobody"], bin="/opt/course/bin", prefix="/opt/course",
    )  # fmt: skip
    student = user_environment(settings, "nobody")
    course = tmp_path / "shared" / "course"
    assert student["PYTHONPATH"] == str(course)
    assert student["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(course / "autograder" / "hub" / "student"),  # fetch into the home folder
        str(course / "autograder" / "student-lab"),  # no instructor tools
        str(course / "autograder"),
        "/opt/course/etc/jupyter",
    ]
    assert student["PATH"].split(os.pathsep)[0] == "/opt/course/bin"
    assert student["ECOMREC_EXCHANGE"] == str(tmp_path / "shared" / "exchange")
    teacher = user_environment(settings, "root")
    mine = Path(os.path.expanduser("~root")) / "ecomrec"
    assert teacher["PYTHONPATH"] == str(mine)
    assert teacher["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(mine / "autograder"),
        "/opt/course/etc/jupyter",
    ]


def test_a_closed_folder_on_the_way_is_named(tmp_path):
    closed = tmp_path / "closed"
    (closed / "inside").mkdir(parents=True)
    closed.chmod(0o700)
    owner = closed.stat().st_uid
    other = 65534 if owner != 65534 else 65533
    blocked = launch._unreachable(closed / "inside" / "python", other, {other})
    names = [b.split(" ")[0] for b in blocked]
    assert str(closed) in names and str(closed / "inside") not in names, names
    assert f"{closed} (mode drwx------)" in blocked
    assert launch._unreachable(closed / "inside", owner, {owner}) == []
