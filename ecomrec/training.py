"""One training loop for every supervised model of the course, and what makes it repeatable.

Nothing here knows about a particular model (the idea of minGPT's ``Trainer``). The model
owns its objective, ``model.loss(batch)``; :func:`train` owns the rest: epochs, the
optimiser, gradient clipping, a learning-rate schedule, validation with early stopping and
best-weight restore, a progress bar, and a safety-net time limit. It returns a
:class:`TrainResult`, the one result type that the adversarial loops
(:func:`ecomrec.gan.train_gan`, :func:`ecomrec.text.adversarial_finetune`) return too.

Same seed, same numbers, on an idle or a busy machine:

- Training is bounded by **epochs**, never by wall-clock time. A time limit
  (`time_limit`) is only a safety net: when it is passed, :class:`TrainingTimeLimitError`
  says which run, which limit and how to raise it. It never shortens training quietly.
- The batch source is a function of the epoch number (``batches(epoch)``), so the batches
  of epoch 3 do not depend on how epochs 1 and 2 went; :func:`epoch_generator` gives it a
  ``torch.Generator`` seeded from ``(seed, epoch)``. Two frameworks fed from one source see
  the same batches in the same order.
- Dropout and other randomness inside the model come from ``torch.manual_seed(seed)``,
  set when the loop starts.
- :func:`fix_threads` pins the thread counts of PyTorch, TensorFlow and the BLAS
  libraries, so the arithmetic (and its rounding) does not change with the cores seen.

:func:`return_freed_memory` keeps a long notebook under a memory cap (the graded
assignments call it in their setup cell).
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ecomrec.progress import tqdm

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)


def fix_threads(n: int = 1) -> int:
    """Use `n` threads in PyTorch, TensorFlow and NumPy's BLAS; return `n`.

    Call it in a notebook's first code cell, before TensorFlow runs anything: TensorFlow
    fixes its thread pools when it initialises, so the environment variables set here (and
    its ``tf.config.threading`` settings, if it is already imported) only count before that.
    One thread is the course's default: the book executes two lessons at a time on two
    cores, and multi-thread PyTorch slowed 10-30x whenever another process was busy.

    Raises:
        ValueError: if `n` is not a positive integer.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"fix_threads needs a positive number of threads, got {n!r}")
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(n)
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:
        pass  # allowed only before the first parallel work; the intra-op count is what matters
    if "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError as error:
            if tf.config.threading.get_intra_op_parallelism_threads() != n:
                raise RuntimeError(
                    "TensorFlow already started with other thread counts: call "
                    "ecomrec.training.fix_threads before any TensorFlow operation runs"
                ) from error
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    return n


def return_freed_memory() -> bool:
    """Make freed memory go back to the system; return True if the allocator accepted it.

    Graded notebooks run under a cap on their address space (about 2 GB, most of it taken by
    PyTorch and Jupyter). glibc's ``malloc`` keeps freed blocks reserved for reuse, so a
    notebook that builds one batch-sized tensor after another creeps up to the cap. This sets
    two glibc options: blocks over 1 MB are mapped on their own and unmapped when freed
    (``M_MMAP_THRESHOLD``), and threads started from now on share one heap (``M_ARENA_MAX``).
    It also turns off tqdm's monitor thread (every thread reserves memory). Call it once, in a
    notebook's first code cell. Elsewhere than Linux with glibc it changes only the tqdm
    setting and returns False.
    """
    import ctypes
    import ctypes.util

    import tqdm as tqdm_package

    tqdm_package.tqdm.monitor_interval = 0
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):  # musl and other C libraries without glibc's options
        return False
    m_mmap_threshold, m_arena_max = -3, -8
    accepted = libc.mallopt(m_mmap_threshold, 1 << 20) == 1
    return bool(libc.mallopt(m_arena_max, 1) == 1 and accepted)


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A ``torch.Generator`` for the batches of `epoch`, seeded from (seed, epoch) only.

    Example:
        >>> a = torch.randperm(5, generator=epoch_generator(0, 3))
        >>> b = torch.randperm(5, generator=epoch_generator(0, 3))
        >>> bool((a == b).all())
        True
    """
    return torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))


class TrainingTimeLimitError(RuntimeError):
    """A training run passed its safety-net time limit (it is not stopped quietly)."""


class TimeLimit:
    """The safety net: :meth:`check` raises :class:`TrainingTimeLimitError` past `seconds`.

    `seconds=None` switches it off. `name` is the run named in the error.
    """

    def __init__(self, seconds: float | None, name: str = "training") -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"time_limit must be positive seconds or None, got {seconds!r}")
        self.seconds, self.name = seconds, name
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def check(self, where: str) -> None:
        if self.seconds is not None and self.elapsed() > self.seconds:
            raise TrainingTimeLimitError(
                f"{self.name!r} passed its time limit of {self.seconds:g} s ({where}, "
                f"{self.elapsed():.0f} s so far). Training is bounded by epochs or steps; the "
                "limit is a safety net against a machine far slower than planned. Raise it "
                "(time_limit=...), switch it off (time_limit=None) or train fewer epochs."
            )


@dataclass
class TrainResult:
    """What a training run did.

    Attributes:
        history: one row per epoch (or logged step): ``epoch`` (or ``step``), ``loss``
            (mean training loss), ``seconds`` since the start and the validation metrics.
        epochs_run: epochs (or steps) trained.
        best_epoch: the epoch of the best validation score, whose weights the model holds
            at the end unless ``restore_best=False``; without validation, the last epoch.
        best_score: the monitored validation score of `best_epoch` (None without validation).
        stopped_early: True if early stopping ended training before the planned epochs.
        seconds: wall-clock seconds of the run (shown, never used to decide anything).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    epochs_run: int = 0
    best_epoch: int = 0
    best_score: float | None = None
    stopped_early: bool = False
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """The run in a few numbers, for :func:`ecomrec.results.record_results`."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_score": self.best_score,
            "stopped_early": self.stopped_early,
            "final_loss": self.history[-1].get("loss") if self.history else None,
        }


def _progress(iterable: Iterable, name: str, progress: bool, total: int | None = None):
    return tqdm(iterable, desc=name, total=total, disable=not progress, leave=True)


def train(
    model: nn.Module,
    batches: Callable[[int], Iterable],
    epochs: int,
    *,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    clip_grad_norm: float | None = None,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    validate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    monitor: str | None = None,
    higher_is_better: bool = True,
    patience: int | None = None,
    validate_every: int = 1,
    restore_best: bool = True,
    seed: int = 0,
    time_limit: float | None = None,
    name: str = "training",
    progress: bool = True,
) -> TrainResult:
    """Train `model` on ``model.loss(batch)`` for `epochs` epochs; return a :class:`TrainResult`.

    Args:
        batches: ``batches(epoch)`` (epoch = 1, 2, ...) returns the iterable of batches of
            that epoch; seed it from the epoch (see :func:`epoch_generator`).
        epochs: the number of epochs, the only bound on training.
        lr, optimizer, weight_decay, betas: ``"adam"`` or ``"adamw"`` and its settings.
        clip_grad_norm: clip the gradients' global norm to this value before each step.
        scheduler: ``scheduler(optimizer)`` builds a learning-rate scheduler, stepped
            after every batch (e.g. ``lambda opt: CosineAnnealingLR(opt, T_max=n_steps)``).
        validate: ``validate(model)`` returns validation metrics; it is called in eval
            mode without gradients after every `validate_every` epochs and after the last.
        monitor: the metric of `validate` that chooses the best epoch (``higher_is_better``
            says which way); needed for early stopping and best-weight restore.
        patience: stop after this many validations without a better `monitor`
            (None: train all `epochs`).
        restore_best: load the weights of the best validation at the end.
        seed: seeds ``torch.manual_seed`` (dropout and any sampling inside the model).
        time_limit: the safety net in seconds (None: none); see :class:`TimeLimit`.
        name: names the run in the progress bar and in errors.

    The model is left in eval mode.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if validate is not None and monitor is None:
        raise ValueError("validate needs monitor: the name of the metric that picks the best epoch")
    if patience is not None and (validate is None or patience < 1):
        raise ValueError("patience needs validate and must be at least 1")
    if validate_every < 1:
        raise ValueError("validate_every must be at least 1")
    optimisers = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    if optimizer not in optimisers:
        raise ValueError(f"optimizer must be one of {sorted(optimisers)}, got {optimizer!r}")
    torch.manual_seed(seed)
    opt = optimisers[optimizer](model.parameters(), lr=lr, weight_decay=weight_decay, betas=betas)
    schedule = scheduler(opt) if scheduler is not None else None
    limit = TimeLimit(time_limit, name)
    result = TrainResult()
    sign = 1.0 if higher_is_better else -1.0
    best_value, best_state, since_best = -math.inf, None, 0
    bar = _progress(range(1, epochs + 1), name, progress)
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for index, batch in enumerate(batches(epoch), start=1):
            loss = model.loss(batch)
            opt.zero_grad()
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            opt.step()
            if schedule is not None:
                schedule.step()
            total += float(loss.detach())
            count += 1
            limit.check(f"epoch {epoch}, batch {index}")
        if count == 0:
            raise ValueError(f"{name!r}: the batch source gave no batch for epoch {epoch}")
        record: dict[str, float] = {"epoch": epoch, "loss": total / count}
        result.epochs_run = epoch
        postfix = {"loss": f"{record['loss']:.4f}"}
        if validate is not None and (epoch % validate_every == 0 or epoch == epochs):
            model.eval()
            with torch.no_grad():
                metrics = dict(validate(model))
            if monitor not in metrics:
                raise KeyError(f"validate returned {sorted(metrics)}, not the monitor {monitor!r}")
            record.update(metrics)
            value = sign * float(metrics[monitor])
            if value > best_value:
                best_value, since_best = value, 0
                result.best_epoch, result.best_score = epoch, float(metrics[monitor])
                if restore_best:
                    best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
            postfix[monitor] = f"{float(metrics[monitor]):.4f}"
        record["seconds"] = limit.elapsed()
        result.history.append(record)
        limit.check(f"after epoch {epoch}")
        bar.set_postfix(postfix)
        if patience is not None and since_best >= patience and epoch < epochs:
            result.stopped_early = True
            break
    bar.close()
    if validate is None:
        result.best_epoch = result.epochs_run
    if restore_best and best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    result.seconds = limit.elapsed()
    return result
