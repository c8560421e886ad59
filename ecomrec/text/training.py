"""Training loops and sampling for the description generators.

- :func:`train_mle`: maximum likelihood (teacher forcing, cross-entropy on the next token).
- :func:`sample`: write descriptions one token at a time at a given temperature.
- :func:`train_discriminator`: real descriptions against a generator's samples.
- :func:`adversarial_finetune`: SeqGAN-style policy gradient from a discriminator's reward.

Every loop is bounded by a number of epochs or steps *and* by `max_seconds`, shows a
progress bar, and draws all its randomness from generators seeded with `seed`, so the same
seed on the same machine gives the same model (PyTorch runs one thread by default in
these loops; see the course's design notes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ecomrec.gan import discriminator_loss

PAD, BOS, EOS = 0, 1, 2


def sequence_log_probs(
    model: nn.Module, attributes: torch.Tensor, tokens: torch.Tensor
) -> torch.Tensor:
    """Log-probability (B,) of each sequence ``<bos> w_1 .. <eos>`` under `model` (pads ignored)."""
    logits = model(attributes, tokens[:, :-1])
    targets = tokens[:, 1:]
    log_p = torch.log_softmax(logits, dim=-1).gather(2, targets.unsqueeze(2)).squeeze(2)
    return (log_p * (targets != PAD)).sum(dim=1)


def mle_loss(model: nn.Module, attributes: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of each next token given the attributes and the tokens before it."""
    logits = model(attributes, tokens[:, :-1])
    return F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=PAD)


def _trim(tokens: torch.Tensor) -> torch.Tensor:
    """Drop trailing columns that are padding in every row."""
    used = (tokens != PAD).any(dim=0).nonzero()
    return tokens[:, : int(used.max()) + 1] if len(used) else tokens[:, :1]


@dataclass
class TrainingLog:
    """Per-epoch (or per-step) records, total seconds and whether the time limit stopped it."""

    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False


def train_mle(
    model: nn.Module,
    attributes: torch.Tensor,
    tokens: torch.Tensor,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    valid: tuple[torch.Tensor, torch.Tensor] | None = None,
    seed: int = 0,
    max_seconds: float = 60.0,
    progress: bool = True,
) -> TrainingLog:
    """Maximum-likelihood training with AdamW, gradient clipping at 1 and a cosine schedule.

    `valid` = (attributes, tokens) adds a per-epoch ``valid_loss`` (no model selection is
    done on it). Returns the log; the model is trained in place.
    """
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout masks
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_batches = -(-len(tokens) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * n_batches)
    log, start = TrainingLog(), time.perf_counter()
    bar = tqdm(range(1, epochs + 1), desc=f"MLE {type(model).__name__}", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(tokens), generator=generator)
        total = 0.0
        for b in range(n_batches):
            rows = order[b * batch_size : (b + 1) * batch_size]
            loss = mle_loss(model, attributes[rows], _trim(tokens[rows]))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(rows)
        record = {"epoch": epoch, "train_loss": total / len(tokens)}
        if valid is not None:
            model.eval()
            with torch.no_grad():
                record["valid_loss"] = float(mle_loss(model, valid[0], _trim(valid[1])))
        record["seconds"] = time.perf_counter() - start
        log.history.append(record)
        bar.set_postfix(loss=f"{record['train_loss']:.3f}")
        if record["seconds"] > max_seconds:
            log.stopped_early = True
            break
    model.eval()
    log.seconds = time.perf_counter() - start
    return log


@torch.no_grad()
def sample(
    model: nn.Module,
    attributes: torch.Tensor,
    temperature: float = 1.0,
    max_len: int = 40,
    seed: int = 0,
    batch_size: int = 512,
) -> torch.Tensor:
    """Descriptions for each row of `attributes`: (B, L) ids ``<bos> .. <eos>`` then pads.

    Each next token is drawn from ``softmax(logits / temperature)``; temperature 0 takes
    the most likely token (greedy). Rows stop at ``<eos>`` or after `max_len` tokens.
    """
    was_training = model.training
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    chunks = []
    for first in range(0, len(attributes), batch_size):
        a = attributes[first : first + batch_size]
        state = model.start(a)
        token = torch.full((len(a),), BOS)
        out, done = [token], torch.zeros(len(a), dtype=torch.bool)
        for _ in range(max_len):
            logits, state = model.step(state, token)
            logits[:, PAD] = logits[:, BOS] = -torch.inf  # never write pad or bos
            if temperature == 0:
                token = logits.argmax(dim=1)
            else:
                probs = torch.softmax(logits / temperature, dim=1)
                token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            token = torch.where(done, torch.full_like(token, PAD), token)
            out.append(token)
            done |= token == EOS
            if done.all():
                break
        chunks.append(torch.stack(out, dim=1))
    width = max(c.shape[1] for c in chunks)
    model.train(was_training)
    return torch.cat([F.pad(c, (0, width - c.shape[1]), value=PAD) for c in chunks])


def _pad_like(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(a.shape[1], b.shape[1])
    return F.pad(a, (0, width - a.shape[1]), value=PAD), F.pad(
        b, (0, width - b.shape[1]), value=PAD
    )


def train_discriminator(
    discriminator: nn.Module,
    attributes: torch.Tensor,
    real: torch.Tensor,
    fake: torch.Tensor,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    max_seconds: float = 30.0,
    progress: bool = True,
) -> TrainingLog:
    """Train `discriminator` to tell `real` rows (label 1) from `fake` rows (label 0).

    Row i of `real` and of `fake` share the attributes ``attributes[i]``.
    """
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr)
    real, fake = _pad_like(real, fake)
    log, start = TrainingLog(), time.perf_counter()
    discriminator.train()
    for epoch in tqdm(range(1, epochs + 1), desc="discriminator", disable=not progress):
        order = torch.randperm(len(real), generator=generator)
        total = 0.0
        for b in range(0, len(order), batch_size):
            rows = order[b : b + batch_size]
            a = attributes[rows]
            loss = discriminator_loss(discriminator(a, real[rows]), discriminator(a, fake[rows]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        log.history.append({"epoch": epoch, "loss": total / len(real)})
        if time.perf_counter() - start > max_seconds:
            log.stopped_early = True
            break
    discriminator.eval()
    log.seconds = time.perf_counter() - start
    return log


@torch.no_grad()
def discriminator_accuracy(
    discriminator: nn.Module, attributes: torch.Tensor, real: torch.Tensor, fake: torch.Tensor
) -> float:
    """Share of rows classified rightly (real logit > 0, fake logit < 0), over both sets."""
    discriminator.eval()
    real, fake = _pad_like(real, fake)
    right = (discriminator(attributes, real) > 0).sum() + (
        discriminator(attributes, fake) < 0
    ).sum()
    return float(right) / (len(real) + len(fake))


def adversarial_finetune(
    generator: nn.Module,
    discriminator: nn.Module,
    attributes: torch.Tensor,
    real: torch.Tensor,
    steps: int = 150,
    batch_size: int = 64,
    g_lr: float = 2e-4,
    d_lr: float = 1e-3,
    d_steps: int = 1,
    mle_weight: float = 0.5,
    temperature: float = 1.0,
    baseline_decay: float = 0.9,
    seed: int = 0,
    max_seconds: float = 60.0,
    progress: bool = True,
) -> TrainingLog:
    """Policy-gradient (REINFORCE) fine-tuning of `generator` against `discriminator`.

    Each step: the generator writes descriptions for a batch of training attributes; the
    discriminator takes `d_steps` cross-entropy steps on those fakes against the real
    descriptions of the same items; then the generator follows

        grad = -mean_b (D(x_b) - baseline) * grad log p(x_b)  +  mle_weight * grad NLL(real)

    where ``D(x_b)`` (the discriminator's probability that sample b is real) is the reward
    of the whole sequence and the baseline a running mean of past rewards, which lowers the
    variance without biasing the gradient. SeqGAN (Yu et al., 2017) gives each prefix its
    own reward by Monte Carlo roll-outs; one reward per sequence is cheaper and noisier.
    The MLE term keeps the generator close to the data (without it, policy-gradient GANs
    for text drift into degenerate text). Both networks are left in eval mode.
    """
    rng = torch.Generator().manual_seed(seed)
    opt_g = torch.optim.Adam(generator.parameters(), lr=g_lr)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=d_lr)
    generator.eval()  # no dropout: the policy that samples is the policy that is updated
    discriminator.train()
    baseline = None
    log, start = TrainingLog(), time.perf_counter()
    for step in tqdm(range(1, steps + 1), desc="adversarial", disable=not progress):
        rows = torch.randint(len(real), (batch_size,), generator=rng)
        a = attributes[rows]
        fake = sample(
            generator, a, temperature, seed=int(torch.randint(2**31, (1,), generator=rng))
        )
        real_rows, fake_pad = _pad_like(_trim(real[rows]), fake)
        for _ in range(d_steps):
            d_loss = discriminator_loss(discriminator(a, real_rows), discriminator(a, fake_pad))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        with torch.no_grad():
            reward = torch.sigmoid(discriminator(a, fake))
        mean_reward = float(reward.mean())
        baseline = mean_reward if baseline is None else baseline
        advantage = reward - baseline
        pg_loss = -(advantage * sequence_log_probs(generator, a, fake)).mean()
        loss = pg_loss + mle_weight * mle_loss(generator, a, _trim(real[rows]))
        opt_g.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
        opt_g.step()
        baseline = baseline_decay * baseline + (1 - baseline_decay) * mean_reward
        log.history.append(
            {
                "step": step,
                "d_loss": float(d_loss.detach()),
                "reward": mean_reward,
                "seconds": time.perf_counter() - start,
            }
        )
        if time.perf_counter() - start > max_seconds:
            log.stopped_early = True
            break
    generator.eval()
    discriminator.eval()
    log.seconds = time.perf_counter() - start
    return log
