"""Lesson 05's two-stage recommender deployed in :class:`~ecomrec.environment.ShopEnvironment`.

A :class:`~ecomrec.environment.RecommenderPolicy` wraps any next-item scorer, but the lesson 05
ranker is not one: its features read the time of the impression (what the user's friends
bought in the 30 days before it) and the session the impression belongs to, which a
:class:`~ecomrec.scoring.ScoringContext` does not carry. :class:`RankerPolicy` reads them from
the :class:`~ecomrec.environment.Observation` instead:

1. :func:`observation_targets` turns the observation into :class:`~ecomrec.ranking.RankingTargets`
   (the session ids come from the session-start flags; the target is the next view of the
   current session);
2. :func:`~ecomrec.ranking.candidate_table` takes the union of the candidate sources and the
   features of every candidate (lesson 05's stage one and its feature table);
3. the fitted ranker scores the candidates and the policy shows the top ``k`` unseen ones.

The statistics (:class:`~ecomrec.ranking.ShopStatistics`) are fitted once, before deployment,
on the shipped log: purchases made during a run are not in them (the environment does not
show a policy the purchases), so the friends' features age as the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ecomrec.environment.policies import Observation, Policy, top_k_unseen
from ecomrec.ranking.features import candidate_table
from ecomrec.ranking.rankers import full_catalogue_scores
from ecomrec.ranking.statistics import ShopStatistics
from ecomrec.ranking.targets import RankingTargets
from ecomrec.scoring import NextItemScorer


def observation_targets(observation: Observation) -> RankingTargets:
    """The impressions of `observation` as ranking targets (the next view is unknown: -1).

    Session ids are numbered per user from the history's session-start flags (0, 1, ...); the
    target belongs to the history's last session, or to a new one where ``target_starts`` says
    the impression opens a session. The environment does not report the times of earlier views,
    and no feature reads them: ``history_times`` holds the impression's time for each of them.
    """
    context = observation.context
    if context.history_starts is None:
        raise ValueError("the observation's context has no session-start flags")
    opens = (
        np.zeros(len(context), dtype=bool)
        if context.target_starts is None
        else np.asarray(context.target_starts, dtype=bool)
    )
    times = np.asarray(observation.times, dtype=np.int64)
    sessions, history_sessions, history_times = [], [], []
    for row, (history, flags) in enumerate(
        zip(context.histories, context.history_starts, strict=True)
    ):
        ids = np.cumsum(flags, dtype=np.int64) - 1
        if len(ids) and ids[0] < 0:  # a history that does not start with a session start
            ids = ids + 1
        last = int(ids[-1]) if len(ids) else -1
        sessions.append(last + 1 if opens[row] or last < 0 else last)
        history_sessions.append(ids)
        history_times.append(np.full(len(history), times[row], dtype=np.int64))
    return RankingTargets(
        users=np.asarray(context.users, dtype=np.int64),
        times=times,
        sessions=np.asarray(sessions, dtype=np.int64),
        items=np.full(len(context), -1, dtype=np.int64),
        histories=list(context.histories),
        history_sessions=history_sessions,
        history_times=history_times,
    )


class RankerPolicy(Policy):
    """Candidates from lesson 05's sources, ranked by a fitted ranker; shows the top k unseen.

    Args:
        stats: the statistics the sources and features read (fitted on the log known at
            deployment, e.g. the whole shipped log).
        ranker: anything with ``predict(values) -> (n, n_candidates)`` scores of an
            ``(n, n_candidates, n_features)`` feature array (:class:`~ecomrec.ranking.LambdaMART`,
            :class:`~ecomrec.ranking.DCNRanker`), fitted on tables with the same features.
        n_candidates: candidates per impression (stage one's K).
        quotas: the union's source quotas (:func:`~ecomrec.ranking.union_order`).
        sequence_model: the next-item model whose scores are the ``gru`` feature group, the
            same one the ranker was trained with (None: the ranker has no such group).
        name: how the policy is called in logs and plots.
        chunk_size: impressions featurised at a time (bounds the memory of the dense sources).
    """

    def __init__(
        self,
        stats: ShopStatistics,
        ranker: object,
        n_candidates: int = 300,
        quotas: Mapping[str, float] | None = None,
        sequence_model: NextItemScorer | None = None,
        name: str = "ranker",
        chunk_size: int = 500,
    ) -> None:
        if not hasattr(ranker, "predict"):
            raise TypeError(f"{type(ranker).__name__} has no predict(values): pass a fitted ranker")
        if not 1 <= n_candidates <= stats.n_items:
            raise ValueError(f"n_candidates must be in 1..{stats.n_items}, got {n_candidates}")
        self.stats = stats
        self.ranker = ranker
        self.n_candidates = int(n_candidates)
        self.quotas = dict(quotas) if quotas is not None else None
        self.sequence_model = sequence_model
        self.name = name
        self.chunk_size = int(chunk_size)
        self.n_items = stats.n_items

    def scores(self, observation: Observation) -> np.ndarray:
        """(len(observation), n_items): the ranker's score of every candidate, every other item
        below the lowest candidate (:func:`~ecomrec.ranking.full_catalogue_scores`)."""
        targets = observation_targets(observation)
        table = candidate_table(
            self.stats,
            targets,
            self.n_candidates,
            chunk_size=self.chunk_size,
            quotas=self.quotas,
            sequence_model=self.sequence_model,
        )
        predicted = np.asarray(self.ranker.predict(table.values), dtype=np.float64)
        return full_catalogue_scores(table.candidates, predicted, self.n_items)

    def slates(self, observation: Observation, k: int) -> np.ndarray:
        if len(observation) == 0:
            return np.empty((0, k), dtype=np.int64)
        return top_k_unseen(self.scores(observation), observation.seen, k)

    def __repr__(self) -> str:
        return (
            f"RankerPolicy({self.ranker!r}, n_candidates={self.n_candidates}, name={self.name!r})"
        )
