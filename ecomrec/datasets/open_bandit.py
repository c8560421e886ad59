"""The Open Bandit Dataset sample, read from the files shipped inside the ``obp==0.4.1`` wheel.

The Open Bandit Dataset (Saito, Aihara, Matsutani and Narita 2021) is a log of fashion
recommendations on ZOZOTOWN, Japan's largest fashion e-commerce site, collected in a 7-day
experiment in November 2019: every impression showed three items (left, centre, right) chosen
either uniformly at random or by a Bernoulli Thompson-sampling bandit, and recorded which item
sat where, its propensity (the probability the policy put that item at that position) and
whether the user clicked. Two policies ran on the same traffic, so one log can be used to
estimate the other policy's click rate off-policy and checked against the other log's own,
on-policy click rate: what the Open Bandit Pipeline paper does, and lesson 08 repeats.

The wheel ships a sample: 10,000 rows per policy and campaign ("all": 80 items, "men": 34,
"women": 46). The bootstrap installs the wheel with ``--no-deps``; this module never imports
obp's code (its newer releases do not support the course's Python), it only reads the CSVs
(and the Thompson-sampling prior ``policy/conf/prior_bts.yaml``) after checking each file's
SHA-256.

Licence: see LICENSE-CONTENT.md (the data's authors ask that the paper be cited).

>>> obd = load_open_bandit("random")           # doctest: +SKIP
>>> obd.log.shape, obd.n_items, obd.n_positions  # doctest: +SKIP
((10000, 9), 80, 3)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.packaged import package_dir, verified_file
from ecomrec.datasets.shopsim import DatasetError

OBP_VERSION = "0.4.1"
REINSTALL = f"pip install --no-deps --force-reinstall obp=={OBP_VERSION}"
POLICIES = ("random", "bts")
"""The two logging policies: uniform random and Bernoulli Thompson sampling."""
CAMPAIGNS = ("all", "men", "women")
N_POSITIONS = 3

OBD_FILES = {
    "dataset/obd/random/all/all.csv": (
        "7168295b6e0a9eabcf3392320a5dd434e542b68e705d5cd9491499af589812f1"
    ),
    "dataset/obd/random/all/item_context.csv": (
        "eba04cc23d5f130a93ff174c5392986882b94c3839433cb8143870eaa6221358"
    ),
    "dataset/obd/random/men/men.csv": (
        "ede6d08c6877f99cd3770f7d09e26c738e6aa6de4445ccccfb1356ba5d06b1eb"
    ),
    "dataset/obd/random/men/item_context.csv": (
        "6d855c2b7e917d0448d71bbe62c023147495882c0fdc8c41e86fef86abf9fe09"
    ),
    "dataset/obd/random/women/women.csv": (
        "e65f3bd3beb17664fa69cc129bf7bf852a775f8ffa630506e505fc905315bb34"
    ),
    "dataset/obd/random/women/item_context.csv": (
        "b1ca4905f97703d196004f2ad4552c1e90c2afad8b50688d333b0d2dc0b33147"
    ),
    "dataset/obd/bts/all/all.csv": (
        "0ad874e4dbf6902f0845dd478ad8dde5ef6903583d3ffaace78411bdad064106"
    ),
    "dataset/obd/bts/all/item_context.csv": (
        "5d4359ba1cfa3ae88f0f1bae66bd633859fe6323817183632ee57b83539d9153"
    ),
    "dataset/obd/bts/men/men.csv": (
        "db6d1f7ed2d591ba521533e45286d4c1fba7fe57a8ad2e80342210335f43c527"
    ),
    "dataset/obd/bts/men/item_context.csv": (
        "3b411ed6b0471316321a6b93f4f756bb25888eac6218cd71d0b603d41d85732d"
    ),
    "dataset/obd/bts/women/women.csv": (
        "e5d1b49a39b608585a2f3014a3f54970430cd37a495c1b73fceb85cdf428a5b8"
    ),
    "dataset/obd/bts/women/item_context.csv": (
        "a56295bad066a558eb783055afd9279f5f4e209a4776eafc22151c53f0ac89d4"
    ),
    "policy/conf/prior_bts.yaml": (
        "81a54fbdc184021ccc62ab97de81ec35461c032e3d7f99ccaa0a9745f732d251"
    ),
}
"""SHA-256 of every file read, relative to the installed ``obp`` package folder (obp 0.4.1)."""

POSITION = "position"
CLICK = "click"
PROPENSITY = "propensity"
USER_FEATURES = tuple(f"user_feature_{i}" for i in range(4))
ITEM_FEATURES = tuple(f"item_feature_{i}" for i in range(4))


@dataclass(frozen=True)
class OpenBanditLog:
    """One logging policy's sample of one campaign.

    Attributes:
        policy: "random" or "bts".
        campaign: "all", "men" or "women".
        log: one row per impression slot, in time order: timestamp (UTC), item_id (0..n-1),
            position (0 = left, 1 = centre, 2 = right), click (0/1), propensity (the logging
            policy's probability of that item at that position), user_feature_0..3 (hashed,
            categorical).
        affinity: (n_rows, n_items) user-item affinity scores (from past clicks).
        items: item_id, item_feature_0 (numeric), item_feature_1..3 (hashed, categorical).
        directory: the obp package folder the files were read from.
    """

    policy: str
    campaign: str
    log: pd.DataFrame
    affinity: np.ndarray
    items: pd.DataFrame
    directory: Path

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def n_positions(self) -> int:
        return N_POSITIONS

    @property
    def click_rate(self) -> float:
        """The policy's own (on-policy) click rate: clicks per impression slot."""
        return float(self.log[CLICK].mean())


def obp_dir() -> Path:
    """The installed ``obp`` package folder, located without importing (running) its code."""
    return package_dir("obp", "The Open Bandit Dataset", REINSTALL)


def _check(directory: Path, name: str) -> Path:
    return verified_file(directory / name, OBD_FILES[name], REINSTALL)


def verify_open_bandit(directory: Path | str | None = None) -> Path:
    """Check the SHA-256 of every Open Bandit file the course reads; returns the obp folder.

    Raises:
        DatasetError: naming the missing or altered file and how to reinstall it.
    """
    directory = Path(directory) if directory is not None else obp_dir()
    for name in OBD_FILES:
        _check(directory, name)
    return directory


def _names(policy: str, campaign: str) -> tuple[str, str]:
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if campaign not in CAMPAIGNS:
        raise ValueError(f"campaign must be one of {CAMPAIGNS}, got {campaign!r}")
    folder = f"dataset/obd/{policy}/{campaign}"
    return f"{folder}/{campaign}.csv", f"{folder}/item_context.csv"


def load_open_bandit(
    policy: str = "random",
    campaign: str = "all",
    directory: Path | str | None = None,
    verify: bool = True,
) -> OpenBanditLog:
    """Verify and read one policy's log of one campaign from the installed obp wheel.

    Args:
        policy: "random" (uniform) or "bts" (Bernoulli Thompson sampling).
        campaign: "all" (80 items), "men" (34) or "women" (46).
        directory: an obp package folder; None reads the installed wheel's.
        verify: check the two files' SHA-256 first (a mismatch raises :class:`DatasetError`).
    """
    log_name, items_name = _names(policy, campaign)
    directory = Path(directory) if directory is not None else obp_dir()
    if verify:
        _check(directory, log_name)
        _check(directory, items_name)
    raw = pd.read_csv(directory / log_name, index_col=0)
    raw_items = pd.read_csv(directory / items_name, index_col=0)
    n_items = len(raw_items)
    if sorted(raw_items[S.ITEM]) != list(range(n_items)):
        raise DatasetError(f"{directory / items_name}: item ids are not 0..{n_items - 1}")
    if not raw[S.ITEM].between(0, n_items - 1).all() or not raw["position"].isin([1, 2, 3]).all():
        raise DatasetError(f"{directory / log_name}: item ids or positions out of range")
    times = pd.to_datetime(raw["timestamp"], utc=True, format="ISO8601")
    order = np.argsort(times.to_numpy(), kind="stable")  # the files are in time order already
    raw, times = raw.iloc[order].reset_index(drop=True), times.iloc[order].reset_index(drop=True)
    log = pd.DataFrame(
        {
            S.TIMESTAMP: times,
            S.ITEM: raw[S.ITEM].astype(np.int64),
            POSITION: raw["position"].astype(np.int64) - 1,
            CLICK: raw["click"].astype(np.int64),
            PROPENSITY: raw["propensity_score"].astype(np.float64),
        }
    )
    for column in USER_FEATURES:
        log[column] = raw[column].astype("category")
    affinity = raw[[c for c in raw.columns if c.startswith("user-item_affinity_")]]
    items = pd.DataFrame({S.ITEM: raw_items[S.ITEM].astype(np.int64)})
    items[ITEM_FEATURES[0]] = raw_items[ITEM_FEATURES[0]].astype(np.float64)
    for column in ITEM_FEATURES[1:]:
        items[column] = raw_items[column].astype("category")
    items = items.sort_values(S.ITEM, ignore_index=True)
    return OpenBanditLog(
        policy=policy,
        campaign=campaign,
        log=log,
        affinity=affinity.to_numpy(dtype=np.float64),
        items=items,
        directory=directory,
    )


def thompson_sampling_prior(
    campaign: str = "all", directory: Path | str | None = None, verify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The Beta(alpha, beta) prior of each item that ZOZOTOWN's Bernoulli TS used at the start of
    the data collection (``obp/policy/conf/prior_bts.yaml``); returns (alpha, beta)."""
    import yaml  # PyYAML: a data file is parsed, no obp code runs

    _names("bts", campaign)
    directory = Path(directory) if directory is not None else obp_dir()
    name = "policy/conf/prior_bts.yaml"
    path = _check(directory, name) if verify else directory / name
    prior = yaml.safe_load(path.read_text(encoding="utf-8"))[campaign]
    return np.asarray(prior["alpha"], dtype=np.float64), np.asarray(prior["beta"], dtype=np.float64)


def thompson_sampling_distribution(
    alpha: np.ndarray,
    beta: np.ndarray,
    n_positions: int = N_POSITIONS,
    n_samples: int = 100_000,
    seed: int = 0,
) -> np.ndarray:
    """(n_items, n_positions): how often Bernoulli TS puts each item at each position.

    Thompson sampling draws a click rate for every item from its Beta posterior and shows the
    items with the highest draws, best first; the frequencies over `n_samples` draws estimate
    the policy's probabilities (Monte Carlo, as the Open Bandit Pipeline computes them).
    """
    alpha, beta = np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)
    if alpha.ndim != 1 or alpha.shape != beta.shape or (alpha <= 0).any() or (beta <= 0).any():
        raise ValueError("alpha and beta must be positive vectors of the same length")
    if not 1 <= n_positions <= len(alpha):
        raise ValueError(f"n_positions must be in 1..{len(alpha)}, got {n_positions}")
    rng = np.random.default_rng(seed)
    counts = np.zeros((len(alpha), n_positions))
    for start in range(0, n_samples, 10_000):
        size = min(10_000, n_samples - start)
        draws = rng.beta(alpha, beta, size=(size, len(alpha)))
        top = np.argsort(-draws, axis=1)[:, :n_positions]
        for position in range(n_positions):
            counts[:, position] += np.bincount(top[:, position], minlength=len(alpha))
    return counts / n_samples
