"""Writing and loading the ShopSim files, with checksums verified on load.

Layout of a ShopSim folder (the shipped one is `datasets/shopsim/`):

    users.csv.gz  items.csv.gz  events.csv.gz  queries.csv.gz  friendships.csv.gz
    truth/user_truth.csv.gz  truth/user_tastes.csv.gz  truth/item_truth.csv.gz
    truth/query_truth.csv.gz (the attributes each search query intends)
    manifest.json   (seed, generator settings, SHA-256, size and row count of every file)
    DATACARD.md     (written by hand, not by the generator)

The gzip streams are written with a zero timestamp and no file name, and
floats with fixed formats, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecomrec import __version__
from ecomrec import schema as S
from ecomrec.datasets.catalogue import CATEGORIES, DEPARTMENTS, SEGMENTS
from ecomrec.datasets.search import esci_labels
from ecomrec.datasets.simulator import SimConfig, SimResult, brand_names, simulate
from ecomrec.datasets.truth import MixtureWeights, ShopSimTruth, TruthParams

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "datasets" / "shopsim"
SHIPPED_SEED = 2026
TABLES = ("users", "items", "events", "queries", "friendships")
TRUTH_TABLES = ("user_truth", "user_tastes", "item_truth", "query_truth")


class DatasetError(RuntimeError):
    """A ShopSim file is missing, altered or unreadable."""


def _file_name(table: str) -> str:
    return f"truth/{table}.csv.gz" if table in TRUTH_TABLES else f"{table}.csv.gz"


def _csv_bytes(df: pd.DataFrame) -> bytes:
    text = df.to_csv(index=False, lineterminator="\n", float_format="%.6f")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return buf.getvalue()


def _truth_tables(result: SimResult) -> dict[str, pd.DataFrame]:
    t = result.truth
    brands = brand_names()
    user_truth = pd.DataFrame(
        {
            S.USER: np.arange(t.n_users),
            "segment": [SEGMENTS[s] for s in t.segment],
            "price_sensitivity": t.price_sensitivity,
            "brand_loyalty": t.brand_loyalty,
            "click_bias": t.click_bias,
        }
    )
    for d, dept in enumerate(DEPARTMENTS):
        user_truth[f"favourite_brand_{dept}"] = [brands[b] for b in t.favourite_brand[:, d]]
    tastes = pd.DataFrame(t.tastes, columns=[c.name for c in CATEGORIES])
    tastes.insert(0, S.USER, np.arange(t.n_users))
    item_truth = pd.DataFrame({S.ITEM: np.arange(t.n_items), "popularity": t.popularity})
    return {
        "user_truth": user_truth,
        "user_tastes": tastes,
        "item_truth": item_truth,
        "query_truth": result.query_truth,
    }


def write_shopsim(result: SimResult, cfg: SimConfig, out: Path | str) -> dict:
    """Write every table and the manifest into `out`; returns the manifest."""
    out = Path(out)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    tables = dict(result.tables) | _truth_tables(result)
    files = {}
    for name, df in tables.items():
        data = _csv_bytes(df)
        path = out / _file_name(name)
        path.write_bytes(data)
        files[_file_name(name)] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
            "rows": len(df),
        }
    manifest = {
        "name": "ShopSim",
        "generator": f"ecomrec.datasets {__version__}",
        "seed": cfg.seed,
        "config": dataclasses.asdict(cfg),
        "truth_params": dataclasses.asdict(result.truth.params),
        "files": files,
        "regenerate": f"python -m ecomrec.datasets generate --seed {cfg.seed} --out DIR",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def generate(seed: int = SHIPPED_SEED, out: Path | str = SHIPPED_DIR, progress: bool = False):
    """Simulate ShopSim with `seed` and write it to `out`."""
    cfg = SimConfig(seed=seed)
    return write_shopsim(simulate(cfg, progress=progress), cfg, out)


# ------------------------------------------------------------------------------ loading
def _restore_hint(path: Path, manifest: dict | None) -> str:
    seed = manifest["seed"] if manifest else SHIPPED_SEED
    hint = f"regenerate it with `python -m ecomrec.datasets generate --seed {seed} --out {path}`"
    if path.resolve() == SHIPPED_DIR.resolve():
        return f"restore it with `git checkout -- datasets/shopsim` or {hint}"
    return hint


def read_manifest(path: Path | str | None = None) -> dict:
    path = Path(path) if path is not None else SHIPPED_DIR
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise DatasetError(f"{mpath} is missing: {_restore_hint(path, None)}.")
    try:
        return json.loads(mpath.read_text())
    except json.JSONDecodeError as err:
        raise DatasetError(
            f"{mpath} is not valid JSON ({err}): {_restore_hint(path, None)}."
        ) from err


def verify(path: Path | str | None = None) -> dict:
    """Check every file of a ShopSim folder against its manifest; returns the manifest."""
    path = Path(path) if path is not None else SHIPPED_DIR
    manifest = read_manifest(path)
    for name, meta in manifest["files"].items():
        fpath = path / name
        if not fpath.is_file():
            raise DatasetError(f"{fpath} is missing: {_restore_hint(path, manifest)}.")
        data = fpath.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            what = "truncated" if len(data) < meta["bytes"] else "altered"
            raise DatasetError(
                f"{fpath} does not match its checksum in manifest.json (the file looks {what}: "
                f"{len(data)} bytes, expected {meta['bytes']}): {_restore_hint(path, manifest)}."
            )
    return manifest


_DTYPES = {
    "users": {S.USER: "int64", S.AGE: "int64", S.GENDER: "category", S.CITY_TIER: "int64"},
    "items": {S.ITEM: "int64", S.PRICE: "float64"},
    "events": {S.USER: "int64", S.ITEM: "int64", S.SESSION: "int64"},
    "queries": {S.QUERY_ID: "int64", S.USER: "int64", S.CLICKED_ITEM: "int64"},
    "query_truth": {S.QUERY_ID: "int64"},
    "friendships": {S.USER_A: "int64", S.USER_B: "int64"},
}
_DATES = {
    "users": [S.SIGNUP_DATE],
    "events": [S.TIMESTAMP],
    "queries": [S.TIMESTAMP],
    "friendships": [S.CREATED_AT],
}


def _read(path: Path, table: str, manifest: dict) -> pd.DataFrame:
    fpath = path / _file_name(table)
    try:
        df = pd.read_csv(fpath, dtype=_DTYPES.get(table), keep_default_na=False)
    except FileNotFoundError as err:
        raise DatasetError(f"{fpath} is missing: {_restore_hint(path, manifest)}.") from err
    except (OSError, EOFError, ValueError, pd.errors.ParserError) as err:
        raise DatasetError(
            f"{fpath} cannot be read ({err}): {_restore_hint(path, manifest)}."
        ) from err
    for col in _DATES.get(table, []):
        df[col] = pd.to_datetime(df[col])
    if table == "events":
        df[S.EVENT_TYPE] = pd.Categorical(df[S.EVENT_TYPE], categories=S.EVENT_TYPES, ordered=True)
    if table == "items":
        df[S.PRICE_TIER] = pd.Categorical(df[S.PRICE_TIER], categories=S.PRICE_TIERS, ordered=True)
    return df


# tables parsed in this process, by file and by the checksum it was verified against
_PARSED: dict[tuple[str, str], pd.DataFrame] = {}


def _read_verified(path: Path, table: str, manifest: dict) -> pd.DataFrame:
    """A table whose file was just checked against `manifest`: parsed once per process and
    copied for every caller after that (the same content, so the same frame)."""
    name = _file_name(table)
    key = (str((path / name).resolve()), manifest["files"][name]["sha256"])
    if key not in _PARSED:
        _PARSED[key] = _read(path, table, manifest)
    return _PARSED[key].copy(deep=True)


def zygote_warm() -> None:
    """Parse the shipped tables once. A grading worker's zygote (autograder.zygote) calls
    this before it forks the students' kernels, so their `load_shopsim()` only verifies the
    files and copies the frames."""
    load_shopsim()


@dataclass
class ShopSim:
    """The observable ShopSim tables (see DATACARD.md for every column)."""

    users: pd.DataFrame
    items: pd.DataFrame
    events: pd.DataFrame
    queries: pd.DataFrame
    friendships: pd.DataFrame
    manifest: dict
    path: Path

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def interactions(self) -> pd.DataFrame:
        """One row per viewed item (the sequence models predict), sorted by user and time."""
        views = self.events[self.events[S.EVENT_TYPE] == "view"]
        cols = [S.USER, S.ITEM, S.SESSION, S.TIMESTAMP]
        return views[cols].sort_values([S.USER, S.TIMESTAMP], kind="stable").reset_index(drop=True)

    def load_truth(self) -> ShopSimTruth:
        """The evaluation-only latent truth (for the oracle; never a model input)."""
        return load_truth(self.path, items=self.items, verify_files=False)

    def load_query_truth(self) -> pd.DataFrame:
        """What each search query intends (evaluation-only): one row per query, the columns
        `ecomrec.datasets.search.INTENT_COLUMNS`, "" where the query intends nothing."""
        return _read(self.path, "query_truth", self.manifest)

    def esci_labels(self) -> np.ndarray:
        """ESCI label index (0 E, 1 S, 2 C, 3 I) of every (query, item) pair (evaluation-only)."""
        return esci_labels(self.load_query_truth(), self.items)


def load_shopsim(path: Path | str | None = None, verify_files: bool = True) -> ShopSim:
    """Load the ShopSim tables as typed DataFrames, verifying checksums first.

    path: a folder written by `generate` (default: the shipped datasets/shopsim).
    A missing, truncated or altered file raises DatasetError naming the file and
    saying how to restore it.
    """
    path = Path(path) if path is not None else SHIPPED_DIR
    manifest = verify(path) if verify_files else read_manifest(path)
    read = _read_verified if verify_files else _read
    tables = {t: read(path, t, manifest) for t in TABLES}
    return ShopSim(**tables, manifest=manifest, path=path)


def load_truth(
    path: Path | str | None = None, items: pd.DataFrame | None = None, verify_files: bool = True
) -> ShopSimTruth:
    """Rebuild the simulator's latent truth from the evaluation-only files."""
    path = Path(path) if path is not None else SHIPPED_DIR
    manifest = verify(path) if verify_files else read_manifest(path)
    if items is None:
        items = _read(path, "items", manifest)
    ut = _read(path, "user_truth", manifest)
    tastes = _read(path, "user_tastes", manifest)
    pop = _read(path, "item_truth", manifest)
    brands = brand_names()
    cat_index = {c.name: i for i, c in enumerate(CATEGORIES)}
    favourite = np.stack(
        [ut[f"favourite_brand_{d}"].map(brands.index).to_numpy() for d in DEPARTMENTS], axis=1
    )
    raw = dict(manifest.get("truth_params") or {})
    mixture = MixtureWeights(**raw.pop("mixture", {}))
    if "complement_recency" in raw:  # JSON has lists; the dataclass is frozen with tuples
        raw["complement_recency"] = tuple(raw["complement_recency"])
    truth_params = TruthParams(mixture=mixture, **raw)
    return ShopSimTruth(
        tastes=tastes[[c.name for c in CATEGORIES]].to_numpy(dtype=np.float64),
        segment=ut["segment"].map(SEGMENTS.index).to_numpy(),
        price_sensitivity=ut["price_sensitivity"].to_numpy(dtype=np.float64),
        brand_loyalty=ut["brand_loyalty"].to_numpy(dtype=np.float64),
        favourite_brand=favourite,
        click_bias=ut["click_bias"].to_numpy(dtype=np.float64),
        popularity=pop["popularity"].to_numpy(dtype=np.float64),
        item_category=items[S.CATEGORY].map(cat_index).to_numpy(),
        item_brand=items[S.BRAND].map(brands.index).to_numpy(),
        item_tier=items[S.PRICE_TIER].map(S.PRICE_TIERS.index).to_numpy().astype(np.int64),
        params=truth_params,
    )
