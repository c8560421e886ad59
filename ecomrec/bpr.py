"""The PyTorch parts of :class:`ecomrec.baselines.BPRMF`, apart so that importing the
baselines does not import PyTorch (see ecomrec/baselines.py), and the course's two BPR
negative samplers, side by side:

- :func:`bpr_batches`: a negative drawn uniformly from every *other* item (it may be one the
  user did interact with); BPR-MF's default, cheap, and what ShopSim's numbers were made with;
- :class:`BPRSampler`: a negative drawn uniformly from the items the user *never* interacted
  with (redrawn on a clash); LightGCN's sampler, and BPR-MF's with ``negatives="unseen"``,
  which matters on dense data such as MovieLens, where a user has rated many of the items.

Both yield ``(users, positives, negatives)`` batches from (seed, epoch) only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch

from ecomrec.training import epoch_generator


class BPRFactors(torch.nn.Module):
    """The trainable part of `BPRMF`: user and item factors, item biases, the BPR loss.

    ``loss((users, positives, negatives))`` is
    ``-mean log sigmoid(x_ui - x_uj) + l2 * (|P[u]|^2 + |Q[i]|^2 + |Q[j]|^2) / batch``.
    """

    def __init__(
        self, n_users: int, n_items: int, n_factors: int, init_std: float, l2: float, seed: int
    ) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.user_factors = torch.nn.Parameter(
            torch.randn((n_users, n_factors), generator=generator) * init_std
        )
        self.item_factors = torch.nn.Parameter(
            torch.randn((n_items, n_factors), generator=generator) * init_std
        )
        self.item_bias = torch.nn.Parameter(torch.zeros(n_items))
        self.l2 = l2

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        users, positives, negatives = batch
        user_vectors = self.user_factors[users]
        pos_vectors, neg_vectors = self.item_factors[positives], self.item_factors[negatives]
        margin = (user_vectors * (pos_vectors - neg_vectors)).sum(dim=1) + (
            self.item_bias[positives] - self.item_bias[negatives]
        )
        penalty = user_vectors.pow(2).sum() + pos_vectors.pow(2).sum() + neg_vectors.pow(2).sum()
        return -torch.nn.functional.logsigmoid(margin).mean() + self.l2 * penalty / len(users)


def bpr_batches(
    users: torch.Tensor, items: torch.Tensor, n_items: int, batch_size: int, seed: int
) -> Callable[[int], Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
    """The batch source of `BPRMF`: ``batches(epoch)`` yields (users, positives, negatives).

    Each epoch shuffles the interactions and draws one negative per interaction uniformly
    from the other items (the positive shifted by 1..n_items-1), from (seed, epoch) only.
    """

    def batches(epoch: int):
        generator = epoch_generator(seed, epoch)
        order = torch.randperm(len(users), generator=generator)
        shift = torch.randint(1, n_items, (len(users),), generator=generator)
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            yield users[rows], items[rows], (items[rows] + shift[rows]) % n_items

    return batches


class BPRSampler:
    """Seeded BPR triples ``(user, positive, negative)`` in shuffled mini-batches.

    ``sampler(epoch)`` (epoch = 1, 2, ...) shuffles the observed pairs and draws, for each,
    a negative item uniformly among the items that user never interacted with, from a
    generator seeded with (seed, epoch) only. It is the batch source that
    :func:`ecomrec.training.train` calls once per epoch; two samplers built with the same
    arguments give the same batches in the same order, which is how two implementations
    are trained on identical data.
    """

    def __init__(
        self, user_item: np.ndarray, n_items: int, batch_size: int = 8192, seed: int = 0
    ) -> None:
        self.user_item = np.asarray(user_item, dtype=np.int64)
        if self.user_item.ndim != 2 or self.user_item.shape[0] != 2:
            raise ValueError("user_item must have shape (2, n_pairs)")
        if self.user_item.shape[1] == 0:
            raise ValueError("no user-item pair to train on")
        self.n_items = n_items
        self.batch_size = batch_size
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._observed = np.unique(self.user_item[0] * n_items + self.user_item[1])
        if np.bincount(self.user_item[0]).max() >= n_items:
            raise ValueError("some user interacted with every item: no negative to draw")

    def __len__(self) -> int:
        """Batches per epoch."""
        return -(-self.user_item.shape[1] // self.batch_size)

    def negatives(self, users: np.ndarray) -> np.ndarray:
        # draws from self.rng, which __call__ reseeds for each epoch
        """One uniform item per user, redrawn until the user has not interacted with it."""
        negatives = self.rng.integers(0, self.n_items, size=len(users))
        while True:
            clash = np.isin(users * self.n_items + negatives, self._observed)
            if not clash.any():
                return negatives
            negatives[clash] = self.rng.integers(0, self.n_items, size=int(clash.sum()))

    def __call__(self, epoch: int) -> list:
        """One pass over the observed pairs: a list of ``(users, positives, negatives)``."""
        self.rng = np.random.default_rng([self.seed, epoch])
        order = self.rng.permutation(self.user_item.shape[1])
        users, positives = self.user_item[:, order]
        negatives = self.negatives(users)
        return [
            tuple(
                torch.as_tensor(a[start : start + self.batch_size])
                for a in (users, positives, negatives)
            )
            for start in range(0, len(order), self.batch_size)
        ]
