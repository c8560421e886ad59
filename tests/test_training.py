"""The one training loop (ecomrec.training) on tiny synthetic models."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pytest
import torch
from torch import nn

from ecomrec.training import (
    TimeLimit,
    TrainingTimeLimitError,
    TrainResult,
    epoch_generator,
    fix_threads,
    return_freed_memory,
    train,
)


class TinyRegression(nn.Module):
    """y = x w + noise; the loss is the mean squared error of a linear layer with dropout."""

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 1)
        self.dropout = nn.Dropout(dropout)

    def loss(self, batch):
        x, y = batch
        return nn.functional.mse_loss(self.linear(self.dropout(x)).squeeze(1), y)


def _data(n: int = 512, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x @ rng.standard_normal(8) + 0.1 * rng.standard_normal(n)).astype(np.float32)
    return torch.from_numpy(x), torch.from_numpy(y)


def _source(x, y, batch_size: int = 32, seed: int = 0):
    def batches(epoch):
        order = torch.randperm(len(y), generator=epoch_generator(seed, epoch))
        for begin in range(0, len(y), batch_size):
            rows = order[begin : begin + batch_size]
            yield x[rows], y[rows]

    return batches


def _validation(x, y):
    def validate(model):
        with torch.no_grad():
            return {"mse": float(nn.functional.mse_loss(model.linear(x).squeeze(1), y))}

    return validate


def _fit(epochs=5, seed=0, **options) -> tuple[TinyRegression, TrainResult]:
    x, y = _data()
    torch.manual_seed(seed)
    model = TinyRegression(dropout=0.1)
    result = train(model, _source(x, y, seed=seed), epochs, seed=seed, progress=False, **options)
    return model, result


def test_runs_the_planned_epochs_and_records_each():
    _, result = _fit(epochs=4, lr=0.05)
    assert result.epochs_run == 4 and [row["epoch"] for row in result.history] == [1, 2, 3, 4]
    assert result.best_epoch == 4 and not result.stopped_early
    assert result.history[-1]["loss"] < result.history[0]["loss"] / 2
    assert all(row["seconds"] >= 0 for row in result.history)


def test_same_seed_same_numbers_other_seed_other_numbers():
    model_a, a = _fit(seed=3, lr=0.05)
    model_b, b = _fit(seed=3, lr=0.05)
    _, c = _fit(seed=4, lr=0.05)
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert torch.equal(model_a.linear.weight, model_b.linear.weight)
    assert [r["loss"] for r in a.history] != [r["loss"] for r in c.history]


def test_early_stopping_restores_the_best_weights():
    x, y = _data()
    xv, yv = _data(128, seed=1)
    yv = -yv  # validation disagrees with training: the first epoch is the best one
    torch.manual_seed(0)
    model = TinyRegression()
    states = []

    def validate(m):
        states.append(copy_state(m))
        return _validation(xv, yv)(m)

    result = train(
        model,
        _source(x, y),
        20,
        lr=0.05,
        validate=validate,
        monitor="mse",
        higher_is_better=False,
        patience=2,
        progress=False,
    )
    assert result.stopped_early and result.epochs_run == 3 and result.best_epoch == 1
    assert len(result.history) == 3 and all("mse" in row for row in result.history)
    assert result.best_score == pytest.approx(result.history[0]["mse"])
    assert torch.equal(model.linear.weight, states[0]["linear.weight"])  # epoch 1 is back
    assert not torch.equal(model.linear.weight, states[-1]["linear.weight"])
    assert not model.training


def copy_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_without_restore_the_last_weights_stay():
    x, y = _data()
    xv, yv = _data(128, seed=1)
    model = TinyRegression()
    result = train(
        model,
        _source(x, y),
        3,
        lr=0.05,
        validate=_validation(xv, -yv),
        monitor="mse",
        higher_is_better=False,
        restore_best=False,
        progress=False,
    )
    assert result.best_epoch == 1 and result.epochs_run == 3
    assert float(_validation(xv, -yv)(model)["mse"]) == pytest.approx(result.history[-1]["mse"])


def test_gradient_clipping_bounds_every_step():
    x, y = _data()
    norms = []

    class Recording(TinyRegression):
        def loss(self, batch):
            if self.linear.weight.grad is not None:
                norms.append(float(torch.cat([p.grad.flatten() for p in self.parameters()]).norm()))
            return super().loss(batch) * 1000.0  # large gradients

    torch.manual_seed(0)
    train(Recording(), _source(x, y), 1, optimizer="adamw", clip_grad_norm=0.5, progress=False)
    assert norms and max(norms) <= 0.5 + 1e-5
    torch.manual_seed(0)
    norms.clear()
    train(Recording(), _source(x, y), 1, progress=False)
    assert max(norms) > 10  # the same run unclipped


def test_scheduler_steps_after_every_batch():
    x, y = _data()
    rates = []

    def scheduler(optimizer):
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (1 + step))
        original = schedule.step

        def step():
            original()
            rates.append(optimizer.param_groups[0]["lr"])

        schedule.step = step
        return schedule

    train(TinyRegression(), _source(x, y), 2, lr=0.1, scheduler=scheduler, progress=False)
    assert len(rates) == 2 * 16  # 512 rows / 32 per batch, two epochs
    assert rates[-1] == pytest.approx(0.1 / 33)


def test_time_limit_fails_loudly_and_names_the_run():
    x, y = _data()

    class Slow(TinyRegression):
        def loss(self, batch):
            time.sleep(0.02)
            return super().loss(batch)

    with pytest.raises(TrainingTimeLimitError, match=r"'slow run'.*0\.05 s.*time_limit="):
        train(Slow(), _source(x, y), 50, time_limit=0.05, name="slow run", progress=False)
    with pytest.raises(ValueError, match="time_limit"):
        TimeLimit(0)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"validate": lambda m: {"a": 1.0}}, "monitor"),
        ({"patience": 2}, "patience"),
        ({"optimizer": "sgd"}, "optimizer"),
    ],
)
def test_bad_settings_are_refused(options, message):
    x, y = _data()
    options = {"epochs": 2, **options}
    with pytest.raises(ValueError, match=message):
        train(TinyRegression(), _source(x, y), progress=False, **options)


def test_a_missing_monitor_and_an_empty_source_are_named():
    x, y = _data()
    with pytest.raises(KeyError, match="'auc'"):
        train(
            TinyRegression(),
            _source(x, y),
            1,
            validate=lambda m: {"mse": 1.0},
            monitor="auc",
            progress=False,
        )
    with pytest.raises(ValueError, match="no batch for epoch 1"):
        train(TinyRegression(), lambda epoch: [], 1, progress=False)


def test_fix_threads_sets_torch_and_refuses_nonsense():
    before = torch.get_num_threads()
    try:
        assert fix_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="positive"):
        fix_threads(0)


def test_return_freed_memory_sets_glibc_options_and_stops_the_tqdm_monitor(monkeypatch):
    import sys

    import tqdm

    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 10)
    accepted = return_freed_memory()
    assert tqdm.tqdm.monitor_interval == 0
    if sys.platform.startswith("linux"):
        assert accepted, "glibc's mallopt refused M_MMAP_THRESHOLD or M_ARENA_MAX"
    # without a C library to find, only the tqdm setting changes
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 10)
    assert return_freed_memory() is False and tqdm.tqdm.monitor_interval == 0


def _burn(stop):
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def test_a_busy_machine_gives_identical_numbers():
    """Train twice, once while every core is kept busy: exactly the same history and weights."""

    def run():
        fix_threads(1)
        model, result = _fit(
            epochs=6,
            seed=7,
            lr=0.02,
            validate=_validation(*_data(128, seed=1)),
            monitor="mse",
            higher_is_better=False,
            patience=3,
        )
        return [(r["epoch"], r["loss"], r["mse"]) for r in result.history], copy_state(model)

    before = torch.get_num_threads()
    try:
        quiet_history, quiet_state = run()
        context = multiprocessing.get_context("spawn")
        stop = context.Event()
        burners = [context.Process(target=_burn, args=(stop,)) for _ in range(2)]
        for process in burners:
            process.start()
        try:
            time.sleep(0.5)  # let them start burning
            busy_history, busy_state = run()
        finally:
            stop.set()
            for process in burners:
                process.join(10)
    finally:
        torch.set_num_threads(before)
    assert busy_history == quiet_history
    assert all(torch.equal(quiet_state[k], busy_state[k]) for k in quiet_state)
