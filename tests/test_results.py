"""ecomrec.results: where results go and how they round-trip."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import pytest

import ecomrec.results as results_module
from ecomrec.results import (
    describe_machine,
    load_results,
    measured_on,
    record_results,
    results_dir,
)


@pytest.fixture
def tmp_results(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ECOMREC_RESULTS_DIR", str(tmp_path / "results"))
    return tmp_path / "results"


def test_default_dir_is_build_results_under_repo_root(monkeypatch):
    monkeypatch.delenv("ECOMREC_RESULTS_DIR", raising=False)
    repo_root = Path(results_module.__file__).resolve().parent.parent
    assert results_dir() == repo_root / "_build" / "results"


def test_env_var_overrides_dir(tmp_results):
    assert results_dir() == tmp_results


def test_round_trip_converts_numpy_and_sorts_keys(tmp_results):
    path = record_results(
        "01-data-and-profiles",
        {
            "ndcg@10": np.float32(0.5),
            "n": np.int64(3),
            "ok": np.bool_(True),
            "hr": 1.0,
            "ranks": np.array([1, 2]),
        },
    )
    assert path == tmp_results / "01-data-and-profiles.json"
    text = path.read_text()
    assert list(json.loads(text)) == ["_measured", "hr", "n", "ndcg@10", "ok", "ranks"]
    assert '"hr": 1.0' in text  # floats stay floats
    loaded = load_results("01-data-and-profiles")
    assert loaded == {"hr": 1.0, "n": 3, "ndcg@10": 0.5, "ok": True, "ranks": [1, 2]}
    assert isinstance(loaded["n"], int) and isinstance(loaded["ndcg@10"], float)


def test_the_machine_and_time_are_recorded_beside_the_numbers(tmp_results):
    record_results("x", {"a": 1})
    info = measured_on("x")
    assert info["cpus"] == os.cpu_count()
    assert info["when"].endswith("UTC") and info["python"] == platform.python_version()
    assert info["process_seconds"] is None or info["process_seconds"] >= 0
    assert f"{os.cpu_count()} cores" in describe_machine(info)
    assert "_measured" not in load_results("x")
    with pytest.raises(ValueError, match="reserved"):
        record_results("x", {"_measured": 1})


def test_older_files_without_a_machine_description_still_load(tmp_results):
    tmp_results.mkdir(parents=True)
    (tmp_results / "old.json").write_text('{"a": 1}')
    assert load_results("old") == {"a": 1}
    assert measured_on("old") is None


def test_recording_again_replaces_the_file(tmp_results):
    record_results("x", {"a": 1})
    record_results("x", {"b": 2})
    assert load_results("x") == {"b": 2}
    assert [p.name for p in tmp_results.iterdir()] == ["x.json"]


def test_missing_results_say_how_to_make_them(tmp_results):
    with pytest.raises(FileNotFoundError, match="build the book"):
        load_results("02-interest-modeling")


def test_nan_and_path_slugs_are_refused(tmp_results):
    with pytest.raises(ValueError, match="NaN"):
        record_results("bad", {"auc": float("nan")})
    with pytest.raises(ValueError, match="plain name"):
        record_results("../escape", {"a": 1})
    with pytest.raises(TypeError, match="cannot record"):
        record_results("bad", {"model": object()})
