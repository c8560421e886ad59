"""Simple next-item recommenders that every model in the course must beat.

All implement :class:`ecomrec.scoring.NextItemScorer`, so a lesson can evaluate them in
one loop::

    model = Markov().fit(split.train, n_items)
    scores = model.score(scoring_context(split, "valid"))   # (n_targets, n_items)
    evaluate_ranking(scores, targets, exclude=seen)

- :class:`Popularity`: how often each item was interacted with. Same list for everyone.
- :class:`ItemCooccurrence`: items that appear near the user's recent items in other
  users' sequences ("viewed this, also viewed").
- :class:`Markov`: what usually comes right after the user's last item.
- :class:`BPRMF`: matrix factorisation trained with the BPR pairwise loss (long-term taste).
- :class:`SessionSwitch`: one model for targets that open a session, another for the rest.

Each captures one part of the simulator's behaviour (popularity, session mission and
complements, taste), which is why a sequence model can beat all of them. Every model is
deterministic: the same data and seed give the same scores.
"""

from __future__ import annotations

import inspect
from abc import abstractmethod

import numpy as np
import pandas as pd

from ecomrec.schema import ITEM, SESSION, TIMESTAMP, USER
from ecomrec.scoring import NextItemScorer, ScoringContext

# PyTorch (4 s to import) is loaded only when BPRMF trains: `from ecomrec.baselines import
# Popularity` stays quick for notebooks, such as assignment 01, that never train a model.
_TORCH_PARTS = ("BPRFactors", "BPRSampler", "bpr_batches")


def __getattr__(name: str):
    if name in _TORCH_PARTS:
        from ecomrec import bpr

        return getattr(bpr, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _ordered(interactions: pd.DataFrame) -> pd.DataFrame:
    """Interactions sorted by (user, time), input order kept among equal timestamps."""
    return interactions.sort_values([USER, TIMESTAMP], kind="stable")


def _item_counts(interactions: pd.DataFrame, n_items: int) -> np.ndarray:
    """Number of interactions per item, as float64 (n_items,)."""
    items = interactions[ITEM].to_numpy(dtype=np.int64)
    if len(items) and (items.min() < 0 or items.max() >= n_items):
        raise ValueError(f"item ids must be in 0..{n_items - 1}")
    return np.bincount(items, minlength=n_items).astype(np.float64)


def _popularity_share(interactions: pd.DataFrame, n_items: int) -> np.ndarray:
    """Interaction counts normalised to sum to 1 (uniform if there are no interactions)."""
    counts = _item_counts(interactions, n_items)
    total = counts.sum()
    return counts / total if total > 0 else np.full(n_items, 1.0 / n_items)


def _consecutive_pairs(
    interactions: pd.DataFrame, gap: int, same_session_only: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(earlier item, later item) pairs `gap` steps apart in the same user's sequence."""
    ordered = _ordered(interactions)
    users = ordered[USER].to_numpy()
    items = ordered[ITEM].to_numpy(dtype=np.int64)
    same_group = users[gap:] == users[:-gap]
    if same_session_only:
        sessions = ordered[SESSION].to_numpy()
        same_group &= sessions[gap:] == sessions[:-gap]
    return items[:-gap][same_group], items[gap:][same_group]


def _whole_history_cooccurrence(interactions: pd.DataFrame, n_items: int) -> np.ndarray:
    """C[i, j] = sum over users of n_ui * n_uj for i != j: every pair of a user's interactions.

    The same count as the windowed loop with a window longer than any history (each pair of
    positions holding two different items, both directions), as one matrix product.
    """
    _, users = np.unique(interactions[USER].to_numpy(), return_inverse=True)
    items = interactions[ITEM].to_numpy(dtype=np.int64)
    per_user = np.zeros((int(users.max()) + 1 if len(users) else 0, n_items))
    np.add.at(per_user, (users, items), 1.0)
    cooccurrence = per_user.T @ per_user
    np.fill_diagonal(cooccurrence, 0.0)
    return cooccurrence


class Recommender(NextItemScorer):
    """A next-item scorer learnt from a log: ``fit(train, n_items)`` then ``score(context)``."""

    @abstractmethod
    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> Recommender:
        """Learn from the training interactions; returns self."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items"):
            raise RuntimeError(f"{type(self).__name__} must be fit before it can score")

    def __repr__(self) -> str:
        # The constructor's parameters, each stored under its own name by __init__.
        names = [
            name
            for name, parameter in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
            and parameter.kind is not parameter.VAR_POSITIONAL
            and parameter.kind is not parameter.VAR_KEYWORD
        ]
        params = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__name__}({params})"


class Popularity(Recommender):
    """Score = number of training interactions with the item; same for every user.

    Example:
        >>> train = pd.DataFrame({USER: [0, 1, 1], ITEM: [2, 2, 0],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=3)})
        >>> Popularity().fit(train, n_items=3).score(ScoringContext([5], [[]])).tolist()
        [[1.0, 0.0, 2.0]]
    """

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> Popularity:
        self.counts_ = _item_counts(train_interactions, n_items)
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        self._check_fitted()
        return np.tile(self.counts_, (len(context), 1))


class ItemCooccurrence(Recommender):
    """Item-to-item similarity from co-occurrence in users' sequences, cosine-normalised.

    Counting: two interactions co-occur when they belong to the same user and are at
    most `window` steps apart in that user's time-ordered sequence; with
    ``same_session_only=True`` they must also share a session. The count is symmetric
    (i near j = j near i) and an item never co-occurs with itself. A window of
    consecutive steps, rather than whole histories, keeps the signal local (a session's
    mission, complements) while still linking items across a session boundary, which
    matters at the start of a new session. ``window=None`` counts every pair of a user's
    interactions however far apart (with ``same_session_only=False``: the classic item-kNN of
    "users who rated this also rated", computed as one matrix product). Cosine normalisation,
    ``C[i, j] / sqrt(n_i * n_j)`` with n the item counts, stops popular items from
    being similar to everything.

    Scoring: a recency-weighted sum of the similarity rows of the last `n_recent`
    history items, ``sum_a decay**a * S[history[-1 - a]]`` (a = 0 is the last item).
    A tiny popularity term (`popularity_weight` times the item's share of
    interactions, far below any co-occurrence score) orders items the history says
    nothing about, instead of leaving them all tied; an empty history gets popularity.

    Defaults were chosen on the validation split of the shipped ShopSim (NDCG@10 with
    seen items excluded: window 10 / 5 recent items / decay 0.7 gave 0.112, window 3 /
    3 / 0.5 gave 0.090, counting within sessions only 0.077, because ShopSim sessions
    are short and a user's taste links items across sessions).

    Example:
        >>> train = pd.DataFrame({USER: [0, 0, 1, 1, 2], ITEM: [0, 1, 0, 1, 2],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=5),
        ...                       SESSION: [0, 0, 1, 1, 2]})
        >>> model = ItemCooccurrence().fit(train, n_items=3)
        >>> int(model.score(ScoringContext([9], [[0]])).argmax())
        1
    """

    def __init__(
        self,
        window: int | None = 10,
        same_session_only: bool = False,
        n_recent: int = 5,
        decay: float = 0.7,
        popularity_weight: float = 1e-6,
    ) -> None:
        if (window is not None and window < 1) or n_recent < 1:
            raise ValueError("window and n_recent must be at least 1 (window may be None)")
        if window is None and same_session_only:
            raise ValueError("window=None counts whole histories; it cannot also stay in sessions")
        self.window = window
        self.same_session_only = same_session_only
        self.n_recent = n_recent
        self.decay = decay
        self.popularity_weight = popularity_weight

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> ItemCooccurrence:
        if self.window is None:
            cooccurrence = _whole_history_cooccurrence(train_interactions, n_items)
        else:
            counts = np.zeros(n_items * n_items, dtype=np.float64)
            for gap in range(1, self.window + 1):
                earlier, later = _consecutive_pairs(train_interactions, gap, self.same_session_only)
                distinct = earlier != later
                earlier, later = earlier[distinct], later[distinct]
                counts += np.bincount(earlier * n_items + later, minlength=n_items * n_items)
                counts += np.bincount(later * n_items + earlier, minlength=n_items * n_items)
            cooccurrence = counts.reshape(n_items, n_items)
        item_counts = _item_counts(train_interactions, n_items)
        norms = np.sqrt(np.maximum(item_counts, 1.0))
        self.similarity_ = cooccurrence / norms[:, None] / norms[None, :]
        self.popularity_ = _popularity_share(train_interactions, n_items)
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        self._check_fitted()
        scores = np.tile(self.popularity_weight * self.popularity_, (len(context), 1))
        for row, history in enumerate(context.histories):
            recent = history[-self.n_recent :][::-1]
            weights = self.decay ** np.arange(len(recent))
            scores[row] += weights @ self.similarity_[recent]
        return scores


class Markov(Recommender):
    """First-order Markov chain: P(next item | last item), smoothed towards popularity.

    Transitions are counted from consecutive interactions of the same user (across
    session boundaries too: the last item of one visit does say something about the
    first of the next). The score of item j after item i is the posterior mean under a
    Dirichlet prior centred on popularity::

        P(j | i) = (T[i, j] + smoothing * pop[j]) / (sum_j T[i, j] + smoothing)

    so an item never followed by anything in training (or an empty history) falls back
    to popularity instead of a row of ties, and observed transitions dominate quickly.

    Example:
        >>> train = pd.DataFrame({USER: [0, 0, 0, 1, 1], ITEM: [0, 1, 2, 0, 1],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=5)})
        >>> model = Markov().fit(train, n_items=3)
        >>> int(model.score(ScoringContext([7], [[2, 0]])).argmax())  # 0 is always followed by 1
        1
    """

    def __init__(self, smoothing: float = 1.0) -> None:
        if smoothing <= 0:
            raise ValueError("smoothing must be positive (it is what breaks ties)")
        self.smoothing = smoothing

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> Markov:
        previous, following = _consecutive_pairs(train_interactions, 1, same_session_only=False)
        transitions = np.bincount(previous * n_items + following, minlength=n_items * n_items)
        self.transitions_ = transitions.reshape(n_items, n_items).astype(np.float64)
        self.popularity_ = _popularity_share(train_interactions, n_items)
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        self._check_fitted()
        prior = self.smoothing * self.popularity_
        scores = np.tile(self.popularity_, (len(context), 1))
        for row, history in enumerate(context.histories):
            if len(history) == 0:
                continue
            counts = self.transitions_[int(history[-1])]
            scores[row] = (counts + prior) / (counts.sum() + self.smoothing)
        return scores


class BPRMF(Recommender):
    """Matrix factorisation trained with Bayesian Personalised Ranking (Rendle et al., 2009).

    Score of item i for user u: ``<P[u], Q[i]> + b[i]``. Training pushes each observed
    (u, i) above an item j drawn uniformly from the rest of the catalogue:
    ``loss = -log sigmoid(x_ui - x_uj) + l2 * (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2)``.
    By default (``negatives="uniform"``, :func:`ecomrec.bpr.bpr_batches`) the negative j is
    any other item, so it may occasionally be one the user did see; with a sparse log and a
    catalogue of a thousand items that is rare and is the standard BPR trade-off. With
    ``negatives="unseen"`` (:class:`ecomrec.bpr.BPRSampler`, LightGCN's sampler) j is drawn
    among the items the user never interacted with: on dense data (a MovieLens user has rated
    a median of 65 of 1,682 movies) a uniform negative is often a positive in disguise.

    The model ignores histories (it is a long-term-taste model). Users with no
    training interaction get a zero user vector, i.e. are scored by item bias only.

    Training runs exactly `epochs` passes over the interactions with
    :func:`ecomrec.training.train` (Adam); `training_` is its
    :class:`~ecomrec.training.TrainResult` and `history_` its per-epoch rows. `time_limit`
    is only a safety net that raises an error. The defaults were chosen on the validation
    split of the shipped ShopSim: with ~25 interactions per user, BPR overfits quickly,
    so a fairly strong `l2` (0.01 per example) and 20 epochs beat weaker regularisation
    (NDCG@10 0.072 against 0.045 for l2=1e-5 and 30 epochs).

    Everything random comes from `seed`, so the same seed gives the same scores (with the
    threads fixed, see :func:`ecomrec.training.fix_threads`).
    """

    def __init__(
        self,
        n_factors: int = 32,
        epochs: int = 20,
        batch_size: int = 1024,
        lr: float = 0.01,
        l2: float = 0.01,
        init_std: float = 0.05,
        seed: int = 0,
        time_limit: float | None = None,
        progress: bool = True,
        negatives: str = "uniform",
    ) -> None:
        if negatives not in ("uniform", "unseen"):
            raise ValueError(f"negatives must be 'uniform' or 'unseen', got {negatives!r}")
        self.negatives = negatives
        self.n_factors = n_factors
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.l2 = l2
        self.init_std = init_std
        self.seed = seed
        self.time_limit = time_limit
        self.progress = progress

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> BPRMF:
        if n_items < 2:
            raise ValueError("BPR needs at least two items to compare")
        users = train_interactions[USER].to_numpy(dtype=np.int64)
        items = train_interactions[ITEM].to_numpy(dtype=np.int64)
        if n_users is None:
            n_users = int(users.max()) + 1 if len(users) else 0
        if len(users) and (users.min() < 0 or users.max() >= n_users):
            raise ValueError(f"user ids must be in 0..{n_users - 1}")
        _item_counts(train_interactions, n_items)  # validates item ids
        import torch

        from ecomrec.bpr import BPRFactors, BPRSampler, bpr_batches
        from ecomrec.training import train

        factors = BPRFactors(n_users, n_items, self.n_factors, self.init_std, self.l2, self.seed)
        if self.negatives == "unseen":
            batches = BPRSampler(np.vstack([users, items]), n_items, self.batch_size, self.seed)
        else:
            batches = bpr_batches(
                torch.tensor(users), torch.tensor(items), n_items, self.batch_size, self.seed
            )
        self.training_ = train(
            factors,
            batches,
            self.epochs,
            lr=self.lr,
            seed=self.seed,
            time_limit=self.time_limit,
            name="BPR-MF",
            progress=self.progress,
        )
        self.history_ = self.training_.history
        user_factors = factors.user_factors.detach().numpy().astype(np.float64)
        user_factors[np.bincount(users, minlength=n_users) == 0] = 0.0
        self.user_factors_ = user_factors
        self.item_factors_ = factors.item_factors.detach().numpy().astype(np.float64)
        self.item_bias_ = factors.item_bias.detach().numpy().astype(np.float64)
        self.n_users = n_users
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        """Scores for the context's users; their histories and session flags are not read."""
        self._check_fitted()
        users = context.users
        if len(users) and (users.min() < 0 or users.max() >= self.n_users):
            raise ValueError(f"users must be in 0..{self.n_users - 1} (the ids seen in fit)")
        return self.user_factors_[users] @ self.item_factors_.T + self.item_bias_


class SessionSwitch(Recommender):
    """Score targets that open a session with one model and the others with another.

    No single baseline serves both cases well on ShopSim: co-occurrence over the recent
    items is better when the user has just arrived, Markov on the last item within a
    session. The switch reads the context's ``target_starts`` to choose, row by row.

    Example:
        >>> train = pd.DataFrame({USER: [0, 0, 0], ITEM: [0, 1, 1], SESSION: [0, 0, 1],
        ...                       TIMESTAMP: pd.date_range("2024-01-01", periods=3)})
        >>> switch = SessionSwitch(Popularity(), Markov()).fit(train, n_items=2)
        >>> context = ScoringContext([0, 0], [[0], [0]], [[True], [True]], [True, False])
        >>> switch.score(context).round(2).tolist()  # popularity, then P(next | item 0)
        [[1.0, 2.0], [0.17, 0.83]]
    """

    def __init__(self, at_start: Recommender, within_session: Recommender) -> None:
        self.at_start = at_start
        self.within_session = within_session

    def fit(
        self, train_interactions: pd.DataFrame, n_items: int, n_users: int | None = None
    ) -> SessionSwitch:
        for model in (self.at_start, self.within_session):
            model.fit(train_interactions, n_items=n_items, n_users=n_users)
        self.n_items = n_items
        return self

    def score(self, context: ScoringContext) -> np.ndarray:
        self._check_fitted()
        _, target_starts = context.sequences(self)
        return np.where(
            target_starts[:, None],
            self.at_start.score(context),
            self.within_session.score(context),
        )
