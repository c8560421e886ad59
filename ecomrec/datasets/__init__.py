"""ShopSim, the course's seeded e-commerce dataset: simulate, write, verify, load.

>>> from ecomrec.datasets import load_shopsim
>>> data = load_shopsim()          # verifies the checksums in manifest.json
>>> data.interactions.head()       # one row per viewed item
"""

from ecomrec.datasets.movielens import MovieLens, load_movielens_100k, verify_movielens
from ecomrec.datasets.open_bandit import OpenBanditLog, load_open_bandit, verify_open_bandit
from ecomrec.datasets.shopsim import (
    SHIPPED_DIR,
    SHIPPED_SEED,
    DatasetError,
    ShopSim,
    generate,
    load_shopsim,
    load_truth,
    read_manifest,
    verify,
)
from ecomrec.datasets.simulator import SimConfig, simulate
from ecomrec.datasets.truth import ShopSimTruth

__all__ = [
    "SHIPPED_DIR",
    "SHIPPED_SEED",
    "DatasetError",
    "MovieLens",
    "OpenBanditLog",
    "ShopSim",
    "ShopSimTruth",
    "SimConfig",
    "generate",
    "load_movielens_100k",
    "load_open_bandit",
    "load_shopsim",
    "load_truth",
    "read_manifest",
    "simulate",
    "verify",
    "verify_movielens",
    "verify_open_bandit",
]
