"""A bounded, seeded training loop with early stopping on a validation metric.

Training stops at whichever comes first: `max_epochs`, `max_seconds` of wall time
(checked after every batch, so a slow or busy machine still finishes on time), or
`patience` epochs without a better validation score. The weights of the best epoch are
restored at the end, so the model that is evaluated is the one validation chose.

Everything random (weight initialisation aside, which the caller seeds before building
the model) comes from `seed`: batch order from a ``torch.Generator`` and dropout from
``torch.manual_seed``. The same seed, data and thread count give the same numbers.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm


@dataclass
class TrainingResult:
    """What happened: one record per epoch, the chosen epoch and why training stopped."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = -math.inf
    stopped_because: str = "max_epochs"
    seconds: float = 0.0


def train_model(
    model: nn.Module,
    make_batches: Callable[[torch.Generator], Iterable],
    validate: Callable[[nn.Module], dict[str, float]],
    monitor: str = "ndcg@10",
    max_epochs: int = 20,
    max_seconds: float = 60.0,
    patience: int = 3,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    progress: bool = True,
    description: str = "training",
) -> TrainingResult:
    """Train `model` with Adam on ``model.loss(batch)``; early-stop on ``validate(model)[monitor]``.

    Args:
        make_batches: called once per epoch with the loop's generator; yields batches
            that ``model.loss`` accepts.
        validate: returns a dict of validation metrics (higher is better for `monitor`);
            it is called in eval mode after every epoch.
        max_epochs, max_seconds, patience: the three stopping rules (see module doc).

    Returns:
        a :class:`TrainingResult`; per-epoch records hold ``epoch``, ``loss`` (mean
        training loss), ``seconds`` (since the start) and the validation metrics.
    """
    if max_epochs < 1 or max_seconds <= 0 or patience < 1:
        raise ValueError("max_epochs, max_seconds and patience must be positive")
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    result = TrainingResult()
    best_state = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    bar = tqdm(range(1, max_epochs + 1), desc=description, disable=not progress)
    out_of_time = False
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for batch in make_batches(generator):
            loss = model.loss(batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            count += 1
            if time.perf_counter() - start > max_seconds:
                out_of_time = True
                break
        model.eval()
        with torch.no_grad():
            metrics = validate(model)
        record = {
            "epoch": epoch,
            "loss": total / max(count, 1),
            "seconds": time.perf_counter() - start,
            **metrics,
        }
        result.history.append(record)
        score = metrics[monitor]
        if score > result.best_score:
            result.best_score, result.best_epoch = score, epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{record['loss']:.3f}", **{monitor: f"{score:.4f}"})
        if out_of_time:
            result.stopped_because = "max_seconds"
            break
        if epoch - result.best_epoch >= patience:
            result.stopped_because = "early_stopping"
            break
    bar.close()
    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result
