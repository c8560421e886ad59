"""The Open Bandit Dataset sample: checksums, shapes, the tidy frames, corrupted copies.

The data is read from the installed obp wheel and never altered here: the checksum tests work on
a copy in a temporary folder.
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pandas as pd
import pytest

from ecomrec import schema as S
from ecomrec.datasets import DatasetError, packaged
from ecomrec.datasets import open_bandit as obd_module
from ecomrec.datasets.open_bandit import (
    CLICK,
    OBD_FILES,
    POSITION,
    PROPENSITY,
    load_open_bandit,
    obp_dir,
    thompson_sampling_distribution,
    thompson_sampling_prior,
    verify_open_bandit,
)

N_ITEMS = {"all": 80, "men": 34, "women": 46}


@pytest.fixture(scope="module")
def logs():
    return {policy: load_open_bandit(policy) for policy in ("random", "bts")}


def test_installed_files_match_their_checksums() -> None:
    directory = verify_open_bandit()
    for name, expected in OBD_FILES.items():
        assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == expected


@pytest.mark.parametrize("policy", ["random", "bts"])
@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_shapes(policy: str, campaign: str) -> None:
    data = load_open_bandit(policy, campaign)
    assert data.log.shape == (10_000, 9)
    assert data.n_items == N_ITEMS[campaign] and data.n_positions == 3
    assert data.affinity.shape == (10_000, N_ITEMS[campaign])
    assert data.log[S.ITEM].between(0, data.n_items - 1).all()
    assert set(data.log[POSITION]) == {0, 1, 2}
    assert data.log[CLICK].isin([0, 1]).all()
    assert data.log[PROPENSITY].between(0, 1, inclusive="right").all()


def test_tidy_frames(logs) -> None:
    random_log = logs["random"].log
    assert list(random_log.columns[:5]) == [S.TIMESTAMP, S.ITEM, POSITION, CLICK, PROPENSITY]
    assert isinstance(random_log[S.TIMESTAMP].dtype, pd.DatetimeTZDtype)
    assert random_log[S.TIMESTAMP].is_monotonic_increasing
    assert random_log[S.TIMESTAMP].min() >= pd.Timestamp("2019-11-24", tz="UTC")
    assert random_log[S.TIMESTAMP].max() < pd.Timestamp("2019-12-01", tz="UTC")
    # the uniform policy puts each of 80 items at a position with probability 1/80
    assert np.allclose(random_log[PROPENSITY], 1 / 80)
    assert logs["bts"].log[PROPENSITY].std() > 0.05
    items = logs["random"].items
    assert items[S.ITEM].tolist() == list(range(80))
    assert items["item_feature_0"].dtype == np.float64
    # the sample's own click rates (42 and 38 clicks in 10,000 slots)
    assert logs["bts"].log[CLICK].sum() == 42 and logs["random"].log[CLICK].sum() == 38
    assert logs["bts"].click_rate == pytest.approx(0.0042)


def test_thompson_sampling_distribution(logs) -> None:
    alpha, beta = thompson_sampling_prior("all")
    assert alpha.shape == beta.shape == (80,)
    dist = thompson_sampling_distribution(alpha, beta, n_samples=20_000, seed=1)
    assert dist.shape == (80, 3)
    assert np.allclose(dist.sum(axis=0), 1.0)
    # the items with the best prior mean are shown most often in the first position
    best = np.argmax(alpha / (alpha + beta))
    assert dist[best, 0] == dist[:, 0].max()
    again = thompson_sampling_distribution(alpha, beta, n_samples=20_000, seed=1)
    assert np.array_equal(dist, again)
    with pytest.raises(ValueError, match="positive vectors"):
        thompson_sampling_distribution(alpha, -beta)
    with pytest.raises(ValueError, match="n_positions"):
        thompson_sampling_distribution(alpha, beta, n_positions=0)


def _copy(tmp_path):
    source = obp_dir()
    for name in OBD_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, tmp_path / name)
    return tmp_path


def test_corrupted_file_is_named_with_the_fix(tmp_path) -> None:
    copy = _copy(tmp_path)
    name = "dataset/obd/bts/all/all.csv"
    with open(copy / name, "a", encoding="utf-8") as handle:
        handle.write("tampered\n")
    with pytest.raises(DatasetError, match=r"bts/all/all\.csv does not match its SHA-256") as err:
        load_open_bandit("bts", directory=copy)
    assert "pip install --no-deps --force-reinstall obp==0.4.1" in str(err.value)
    with pytest.raises(DatasetError, match="does not match"):
        verify_open_bandit(copy)
    load_open_bandit("random", directory=copy)  # the other policy's files are intact


def test_missing_file_is_named(tmp_path) -> None:
    copy = _copy(tmp_path)
    (copy / "dataset/obd/random/all/item_context.csv").unlink()
    with pytest.raises(DatasetError, match=r"random/all/item_context\.csv is missing"):
        load_open_bandit("random", directory=copy)


def test_missing_wheel_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setattr(packaged.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install --no-deps"):
        load_open_bandit()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="policy must be one of"):
        load_open_bandit("epsilon-greedy")
    with pytest.raises(ValueError, match="campaign must be one of"):
        load_open_bandit("random", "kids")


def test_obp_code_never_runs_and_the_wheel_is_pinned(logs) -> None:
    import sys
    from pathlib import Path

    assert "obp" not in sys.modules, "obp's code must never run"
    root = Path(__file__).resolve().parents[1]
    pins = [
        line.strip()
        for line in (root / "requirements-nodeps.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert f"obp=={obd_module.OBP_VERSION}" in pins
