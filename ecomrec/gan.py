"""Generative adversarial networks where you can see them: a 2-D toolkit and the GAN losses.

Lesson 03 trains a generator ``G`` and a discriminator ``D`` on a ring of Gaussian modes in
the plane, where every sample can be drawn and mode collapse is visible. The same losses are
reused by the adversarial text generator in :mod:`ecomrec.text`.

The losses take the discriminator's **logits** (before the sigmoid) and use log-sigmoid
identities, so they stay finite when ``D`` is confident: ``log D = logsigmoid(l)`` and
``log(1 - D) = logsigmoid(-l)``.

- :func:`discriminator_loss`: ``-[log D(x) + log(1 - D(G(z)))]`` averaged, the binary
  cross-entropy that the discriminator minimises (the minimax value with its sign flipped).
- :func:`minimax_generator_loss`: ``log(1 - D(G(z)))``, what the generator minimises in the
  original minimax game. It saturates: when ``D`` rejects the fakes its gradient vanishes.
- :func:`non_saturating_generator_loss`: ``-log D(G(z))``, same fixed point, strong gradients
  early on; what practitioners use.
- :func:`article_sign_error_loss`: the article's ``-1/2 [log D(x) - log(1 - D(G(z)))]``, kept to
  show what the wrong sign does.

Training (:func:`train_gan`) is bounded by steps (a time limit only as a safety net that
raises an error), seeded, returns a :class:`GANRun` (a :class:`ecomrec.training.TrainResult`
with the two networks) and records snapshots
of generated samples; :func:`mode_report` and :func:`sliced_wasserstein` turn samples into
numbers (modes covered, share of good samples, distance to the true mixture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ecomrec.progress import tqdm
from ecomrec.training import TimeLimit, TrainResult

GENERATOR_LOSSES = ("non-saturating", "minimax", "article-sign-error")


# --------------------------------------------------------------------------- losses
def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(log D(x)) - mean(log(1 - D(G(z))))``: binary cross-entropy, real=1, fake=0."""
    return -F.logsigmoid(real_logits).mean() - F.logsigmoid(-fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(log(1 - D(G(z))))``, minimised by G in the original minimax game (saturates)."""
    return F.logsigmoid(-fake_logits).mean()


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-mean(log D(G(z)))``: the generator loss used in practice."""
    return -F.logsigmoid(fake_logits).mean()


def article_sign_error_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """The article's loss ``-1/2 mean[log D(x) - log(1 - D(G(z)))]`` (sign error on purpose).

    A discriminator that minimises it is rewarded for calling the fakes *real*; a generator
    that maximises it (the other player of the game) is rewarded for looking *fake*.
    """
    return -0.5 * (F.logsigmoid(real_logits) - F.logsigmoid(-fake_logits)).mean()


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class RingMixture:
    """Equal-weight isotropic Gaussians whose centres sit evenly on a circle."""

    n_modes: int = 8
    radius: float = 2.0
    std: float = 0.1

    @property
    def centres(self) -> np.ndarray:
        angles = 2 * np.pi * np.arange(self.n_modes) / self.n_modes
        return self.radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` points, float32 (n, 2)."""
        modes = rng.integers(self.n_modes, size=n)
        points = self.centres[modes] + self.std * rng.standard_normal((n, 2))
        return points.astype(np.float32)


def mode_report(
    samples: np.ndarray, mixture: RingMixture, n_sigma: float = 3.0, min_share: float = 0.25
) -> dict[str, float]:
    """How well `samples` cover the mixture.

    A sample is *good* when it lies within `n_sigma` standard deviations of a centre (for
    the true mixture that is 98.9% of samples at 3 sigma in 2-D). A mode is *covered* when
    it receives at least `min_share` of its fair share (1 / n_modes) of all samples.
    ``mode_tv`` is the total-variation distance between the samples' distribution over
    "mode 1..K or nowhere" and the true one, a number in [0, 1] that is 0 for a perfect fit
    and close to 1 - 1/K for a generator collapsed onto one mode.
    """
    samples = np.asarray(samples, dtype=np.float64)
    distances = np.linalg.norm(samples[:, None, :] - mixture.centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= n_sigma * mixture.std
    shares = np.bincount(nearest[good], minlength=mixture.n_modes) / len(samples)
    inside = 1.0 - math.exp(-(n_sigma**2) / 2)  # chi-square with 2 degrees of freedom
    true_shares = np.full(mixture.n_modes, inside / mixture.n_modes)
    tv = 0.5 * (np.abs(shares - true_shares).sum() + abs((1 - good.mean()) - (1 - inside)))
    return {
        "modes_covered": int(np.sum(shares >= min_share / mixture.n_modes)),
        "good_share": float(good.mean()),
        "mode_tv": float(tv),
    }


def sliced_wasserstein(
    a: np.ndarray, b: np.ndarray, n_projections: int = 256, seed: int = 0
) -> float:
    """Sliced 1-Wasserstein distance between two equal-size point clouds.

    Projects both clouds on `n_projections` random directions and averages the 1-D
    Wasserstein distances (mean absolute difference of the sorted projections).
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"point clouds must have the same shape, got {a.shape} and {b.shape}")
    directions = np.random.default_rng(seed).standard_normal((a.shape[1], n_projections))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    pa, pb = np.sort(a @ directions, axis=0), np.sort(b @ directions, axis=0)
    return float(np.abs(pa - pb).mean())


# --------------------------------------------------------------------------- models
def mlp(
    n_in: int, n_out: int, hidden: int = 128, depth: int = 2, activation: type = nn.ReLU
) -> nn.Sequential:
    """`depth` hidden layers of `hidden` units, then a linear output layer."""
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), activation()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


@dataclass
class GANRun(TrainResult):
    """What :func:`train_gan` returns: a :class:`~ecomrec.training.TrainResult` (history
    rows per logged step: ``step``, ``loss`` (the generator's), ``d_loss``, ``g_loss``,
    ``d_real``, ``d_fake``, ``seconds``) plus the two networks and the snapshots."""

    generator: nn.Module | None = None
    discriminator: nn.Module | None = None
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """`n` generated points from noise drawn with `seed`, float32 (n, 2)."""
        return generate_points(self.generator, n, seed)


def _noise_dim(generator: nn.Module) -> int:
    return next(m for m in generator.modules() if isinstance(m, nn.Linear)).in_features


def generate_points(generator: nn.Module, n: int, seed: int = 0) -> np.ndarray:
    """Run `generator` on `n` standard normal noise vectors drawn with `seed`."""
    noise = torch.randn(n, _noise_dim(generator), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return generator(noise).numpy()


def train_gan(
    mixture: RingMixture,
    generator_loss: str = "non-saturating",
    steps: int = 3000,
    batch_size: int = 256,
    noise_dim: int = 8,
    hidden: int = 128,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.5, 0.999),
    d_steps: int = 1,
    g_steps: int = 1,
    snapshot_steps: Sequence[int] = (),
    n_snapshot: int = 1000,
    log_every: int = 50,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
) -> GANRun:
    """Alternate `d_steps` discriminator updates and `g_steps` generator updates, `steps` times.

    `generator_loss` picks the game: ``"non-saturating"`` (D: cross-entropy, G:
    ``-log D(G(z))``), ``"minimax"`` (D: cross-entropy, G: ``log(1 - D(G(z)))``) or
    ``"article-sign-error"`` (D minimises the article's loss, G maximises it). Only the player
    being updated receives gradients: the other one's parameters are not in its optimiser,
    and the real data and noise are fresh each step. Runs exactly `steps` steps;
    `time_limit` is only a safety net that raises an error. Snapshots of `n_snapshot`
    generated points are taken after the listed steps (0 = before training) from one
    fixed noise batch.
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"generator_loss must be one of {GENERATOR_LOSSES}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    noise_gen = torch.Generator().manual_seed(seed + 1)
    generator = mlp(noise_dim, 2, hidden)
    discriminator = mlp(2, 1, hidden, activation=nn.LeakyReLU)
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    fixed_noise = torch.randn(n_snapshot, noise_dim, generator=noise_gen)
    run = GANRun(generator=generator, discriminator=discriminator)
    wanted = set(snapshot_steps)

    def snapshot(step: int) -> None:
        if step in wanted:
            with torch.no_grad():
                run.snapshots[step] = generator(fixed_noise).numpy()

    snapshot(0)
    limit = TimeLimit(time_limit, f"GAN ({generator_loss})")
    d_loss = g_loss = torch.tensor(0.0)
    d_real = d_fake = torch.zeros(1)
    for step in tqdm(range(1, steps + 1), desc=f"GAN ({generator_loss})", disable=not progress):
        for _ in range(d_steps):
            real = torch.from_numpy(mixture.sample(batch_size, rng))
            with torch.no_grad():
                fake = generator(torch.randn(batch_size, noise_dim, generator=noise_gen))
            d_real, d_fake = discriminator(real), discriminator(fake)
            if generator_loss == "article-sign-error":
                d_loss = article_sign_error_loss(d_real, d_fake)
            else:
                d_loss = discriminator_loss(d_real, d_fake)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        for _ in range(g_steps):
            fake_logits = discriminator(
                generator(torch.randn(batch_size, noise_dim, generator=noise_gen))
            )
            if generator_loss == "non-saturating":
                g_loss = non_saturating_generator_loss(fake_logits)
            elif generator_loss == "minimax":
                g_loss = minimax_generator_loss(fake_logits)
            else:  # the generator plays the other side of the (wrong) value
                real_logits = discriminator(torch.from_numpy(mixture.sample(batch_size, rng)))
                g_loss = -article_sign_error_loss(real_logits, fake_logits)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
        snapshot(step)
        if step % log_every == 0 or step == steps:
            run.history.append(
                {
                    "step": step,
                    "loss": float(g_loss.detach()),
                    "d_loss": float(d_loss.detach()),
                    "g_loss": float(g_loss.detach()),
                    "d_real": float(torch.sigmoid(d_real.detach()).mean()),
                    "d_fake": float(torch.sigmoid(d_fake.detach()).mean()),
                    "seconds": limit.elapsed(),
                }
            )
        run.epochs_run = run.best_epoch = step
        limit.check(f"step {step}")
    run.seconds = limit.elapsed()
    return run


def plot_points(ax, points: np.ndarray, mixture: RingMixture, title: str = "", limit: float = 3.5):
    """Scatter 2-D `points` with the mixture's centres and 3-sigma circles; returns `ax`."""
    import matplotlib.pyplot as plt  # imported here so the module works without a display

    for x, y in mixture.centres:
        ax.add_patch(plt.Circle((x, y), 3 * mixture.std, fill=False, color="tab:red", lw=0.8))
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue")
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)
    return ax
