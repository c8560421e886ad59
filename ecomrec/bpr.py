"""The PyTorch parts of :class:`ecomrec.baselines.BPRMF`, apart so that importing the
baselines does not import PyTorch (see ecomrec/baselines.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
