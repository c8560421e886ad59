"""Training and sampling for the description generators.

- :func:`train_mle`: maximum likelihood (teacher forcing, cross-entropy on the next token).
- :func:`sample`: write descriptions one token at a time at a given temperature.
- :func:`train_discriminator`: real descriptions against a generator's samples.
- :func:`adversarial_finetune`: SeqGAN-style policy gradient from a discriminator's reward.

The first two supervised ones run the course's one loop, :func:`ecomrec.training.train`;
the adversarial one keeps its own step logic and returns the same
:class:`~ecomrec.training.TrainResult`. Each is bounded by a number of epochs or steps
only (an optional `time_limit` is a safety net that raises an error), and draws all its
randomness from generators seeded with `seed`, so the same seed gives the same model
(with the threads fixed, see :func:`ecomrec.training.fix_threads`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ecomrec.gan import discriminator_loss
from ecomrec.progress import tqdm
from ecomrec.training import TimeLimit, TrainResult, epoch_generator, train

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


class MLEObjective(nn.Module):
    """``loss((attributes, tokens))``: :func:`mle_loss` of `model`, padding columns trimmed."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        attributes, tokens = batch
        return mle_loss(self.model, attributes, _trim(tokens))


def shuffled_batches(*tensors: torch.Tensor, batch_size: int, seed: int):
    """Batch source: ``batches(epoch)`` yields rows of `tensors`, shuffled by (seed, epoch)."""
    n = len(tensors[0])

    def batches(epoch: int):
        order = torch.randperm(n, generator=epoch_generator(seed, epoch))
        for begin in range(0, n, batch_size):
            rows = order[begin : begin + batch_size]
            yield tuple(t[rows] for t in tensors)

    return batches


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
    time_limit: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Maximum-likelihood training with AdamW, gradient clipping at 1 and a cosine schedule.

    Runs :func:`ecomrec.training.train` for exactly `epochs` epochs. `valid` =
    (attributes, tokens) adds a per-epoch ``valid_loss``; no model selection is done on
    it (the last epoch's weights are kept). The model is trained in place.
    """
    n_steps = epochs * -(-len(tokens) // batch_size)
    validate = None
    if valid is not None:

        def validate(objective: MLEObjective) -> dict[str, float]:
            return {"valid_loss": float(mle_loss(objective.model, valid[0], _trim(valid[1])))}

    return train(
        MLEObjective(model),
        shuffled_batches(attributes, tokens, batch_size=batch_size, seed=seed),
        epochs,
        lr=lr,
        optimizer="adamw",
        weight_decay=weight_decay,
        clip_grad_norm=1.0,
        scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_steps),
        validate=validate,
        monitor="valid_loss" if valid is not None else None,
        higher_is_better=False,
        restore_best=False,
        seed=seed,
        time_limit=time_limit,
        name=f"MLE {type(model).__name__}",
        progress=progress,
    )


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


class DiscriminatorObjective(nn.Module):
    """``loss((attributes, real, fake))``: :func:`ecomrec.gan.discriminator_loss` of the model."""

    def __init__(self, discriminator: nn.Module) -> None:
        super().__init__()
        self.discriminator = discriminator

    def loss(self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> torch.Tensor:
        attributes, real, fake = batch
        d = self.discriminator
        return discriminator_loss(d(attributes, real), d(attributes, fake))


def train_discriminator(
    discriminator: nn.Module,
    attributes: torch.Tensor,
    real: torch.Tensor,
    fake: torch.Tensor,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train `discriminator` to tell `real` rows (label 1) from `fake` rows (label 0).

    Row i of `real` and of `fake` share the attributes ``attributes[i]``. Adam for exactly
    `epochs` epochs with :func:`ecomrec.training.train`.
    """
    real, fake = _pad_like(real, fake)
    return train(
        DiscriminatorObjective(discriminator),
        shuffled_batches(attributes, real, fake, batch_size=batch_size, seed=seed),
        epochs,
        lr=lr,
        seed=seed,
        time_limit=time_limit,
        name="discriminator",
        progress=progress,
    )


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
    time_limit: float | None = None,
    progress: bool = True,
) -> TrainResult:
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
    result, limit = TrainResult(), TimeLimit(time_limit, "adversarial fine-tuning")
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
        result.history.append(
            {
                "step": step,
                "loss": float(loss.detach()),
                "d_loss": float(d_loss.detach()),
                "reward": mean_reward,
                "seconds": limit.elapsed(),
            }
        )
        result.epochs_run = result.best_epoch = step
        limit.check(f"step {step}")
    generator.eval()
    discriminator.eval()
    result.seconds = limit.elapsed()
    return result
