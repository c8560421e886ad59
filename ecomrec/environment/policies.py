"""Policies: what the shop shows. Every course recommender becomes one through one adapter.

A policy receives an :class:`Observation` (a batch of impressions: who, when, what each
user did before, as a :class:`~ecomrec.scoring.ScoringContext`) and returns a slate of
``k`` distinct item ids per impression, best first, as an ``(n, k)`` integer array.

- :class:`RecommenderPolicy` wraps any :class:`~ecomrec.scoring.NextItemScorer` (every
  baseline, the GRU, LightGCN, the lesson 05 ranker's scorer): score the catalogue, drop
  the items the user already viewed (ShopSim users never view an item twice), take the top k.
  ``refresh="daily"`` shows the model only what it knew at the start of the day.
- :class:`RandomPolicy` shows k unseen items uniformly at random (a logging policy).
- :class:`OraclePolicy` reads the truth and shows the k most likely next views: the ceiling.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from ecomrec.scoring import NextItemScorer, ScoringContext


@dataclass(frozen=True)
class Observation:
    """A batch of ``n`` impressions as a policy sees them.

    Attributes:
        context: users, their views so far (oldest first) with session-start flags, and
            whether the impression opens a session (it never does: a slate is shown after
            the session's first view).
        seen: n arrays of the items each user viewed before (to exclude).
        day_start_lengths: (n,) how many of each history's items were known at midnight
            of the current day (a model refreshed once a day sees only those).
        times: (n,) seconds since ``ecomrec.schema.SIMULATION_START``.
        probabilities: the true next-view distribution (n, n_items), only for a policy
            whose ``reads_truth`` is True (the oracle); None otherwise.
    """

    context: ScoringContext
    seen: list[np.ndarray]
    day_start_lengths: np.ndarray
    times: np.ndarray
    probabilities: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.context)


class Policy(ABC):
    """Chooses a slate of ``k`` distinct items for every impression of an observation."""

    reads_truth: bool = False
    name: str = "policy"

    @abstractmethod
    def slates(self, observation: Observation, k: int) -> np.ndarray:
        """(len(observation), k) integer item ids, best first, no repeats within a row."""


def top_k_unseen(scores: np.ndarray, seen: list[np.ndarray], k: int) -> np.ndarray:
    """The k highest-scoring items of each row after removing that row's `seen` items."""
    negated = np.negative(np.asarray(scores, dtype=np.float64))  # a new array, best lowest
    lengths = [len(items) for items in seen]
    if sum(lengths):
        rows = np.repeat(np.arange(len(lengths)), lengths)
        columns = np.concatenate([np.asarray(items) for items in seen if len(items)])
        negated[rows, columns] = np.inf
    top = np.argpartition(negated, k - 1, axis=1)[:, :k]
    order = np.argsort(np.take_along_axis(negated, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


class RecommenderPolicy(Policy):
    """Show the top-k unseen items of a fitted next-item scorer.

    Args:
        model: any fitted :class:`~ecomrec.scoring.NextItemScorer` (a baseline, a sequence
            model, a ranker's catalogue scorer).
        name: how the policy is called in logs and plots.
        refresh: ``"realtime"`` (the model reads every event up to the impression) or
            ``"daily"`` (it reads only the events before midnight, as a model whose user
            state is recomputed by a nightly batch job).
    """

    def __init__(self, model: NextItemScorer, name: str | None = None, refresh: str = "realtime"):
        if refresh not in ("realtime", "daily"):
            raise ValueError(f"refresh must be 'realtime' or 'daily', got {refresh!r}")
        if not hasattr(model, "n_items"):
            raise ValueError(f"{type(model).__name__} has no n_items: fit it before deploying it")
        self.model = model
        self.refresh = refresh
        self.name = name or type(model).__name__

    def slates(self, observation: Observation, k: int) -> np.ndarray:
        context = observation.context
        if self.refresh == "daily":
            cut = observation.day_start_lengths
            context = ScoringContext(
                context.users,
                [h[:c] for h, c in zip(context.histories, cut, strict=True)],
                [f[:c] for f, c in zip(context.history_starts, cut, strict=True)],
                context.target_starts,
            )
        scores = self.model.score(context)
        if scores.shape != (len(context), self.model.n_items):
            raise ValueError(
                f"{self.name}'s model returned scores of shape {scores.shape}, expected "
                f"({len(context)}, {self.model.n_items})"
            )
        return top_k_unseen(scores, observation.seen, k)

    def __repr__(self) -> str:
        return f"RecommenderPolicy({self.model!r}, name={self.name!r}, refresh={self.refresh!r})"


class RandomPolicy(Policy):
    """k distinct unseen items drawn uniformly at random (its own seeded stream)."""

    def __init__(self, n_items: int, seed: int = 0, name: str = "random") -> None:
        self.n_items = n_items
        self.rng = np.random.default_rng(seed)
        self.name = name

    def slates(self, observation: Observation, k: int) -> np.ndarray:
        keys = self.rng.random((len(observation), self.n_items))
        return top_k_unseen(keys, observation.seen, k)


class OraclePolicy(Policy):
    """The k items the truth says the user is most likely to view next (reads the truth)."""

    reads_truth = True

    def __init__(self, name: str = "oracle") -> None:
        self.name = name

    def slates(self, observation: Observation, k: int) -> np.ndarray:
        if observation.probabilities is None:
            raise ValueError("OraclePolicy needs observation.probabilities (reads_truth=True)")
        return top_k_unseen(observation.probabilities, observation.seen, k)
