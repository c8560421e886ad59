"""Is model A really better than model B? A paired bootstrap over users.

Every "A beats B" in the course carries an interval. Both models are scored on the same
targets, so the comparison is paired: resample the targets (users) with replacement, and
recompute the relative difference of the two means on each resample. The spread of those
differences is the noise of the test set; when the interval contains 0, the two models are
within noise of each other and no lesson may say that one beats the other.

Example:
    >>> rng = np.random.default_rng(0)
    >>> b = rng.random(2000)
    >>> a = b + 0.05  # A is better on every user
    >>> result = paired_bootstrap(a, b, seed=0)
    >>> result.significant, result.low > 0
    (True, True)
    >>> paired_bootstrap(b, b, seed=0).significant  # a model never beats itself
    False
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two per-user metrics (A against B).

    Attributes:
        mean_a, mean_b: the two means over all users.
        relative: ``mean_a / mean_b - 1`` (0.05 means A is 5% above B).
        low, high: the bootstrap interval of ``relative`` at ``confidence``.
        confidence: e.g. 0.95.
        n_users, n_resamples: the sizes behind the interval.
    """

    mean_a: float
    mean_b: float
    relative: float
    low: float
    high: float
    confidence: float
    n_users: int
    n_resamples: int

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0: A and B differ by more than the noise."""
        return self.low > 0 or self.high < 0

    @property
    def a_beats_b(self) -> bool:
        """True when A is above B and the whole interval is above 0."""
        return self.low > 0

    def interval_text(self) -> str:
        """``+4.1% (95% interval +1.2% to +7.0%)``."""
        return (
            f"{self.relative:+.1%} ({self.confidence:.0%} interval "
            f"{self.low:+.1%} to {self.high:+.1%})"
        )

    def describe(self, name_a: str, name_b: str) -> str:
        """One sentence that says only what the interval supports."""
        if self.a_beats_b:
            return f"{name_a} beats {name_b} by {self.interval_text()}"
        if self.high < 0:
            return f"{name_a} is below {name_b}: {self.interval_text()}"
        return f"{name_a} and {name_b} are within noise of each other: {self.interval_text()}"

    def as_dict(self) -> dict[str, float | int | bool]:
        """The fields plus ``significant`` and ``a_beats_b``, for record_results."""
        return asdict(self) | {"significant": self.significant, "a_beats_b": self.a_beats_b}


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
) -> Comparison:
    """The relative difference of mean(a) over mean(b), with a paired bootstrap interval.

    Args:
        a, b: (n_users,) per-user values of one metric for models A and B on the same
            targets, in the same order (e.g. :func:`ecomrec.metrics.ndcg_gains` or
            :func:`ecomrec.metrics.expected_ndcg_gains`).
        n_resamples: bootstrap resamples of the users.
        confidence: width of the percentile interval.
        seed: the resampling seed (same seed, same interval).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"a and b must be 1-d per-user values of the same length, got {a.shape} and {b.shape}"
        )
    if len(a) < 2:
        raise ValueError("a paired bootstrap needs at least 2 users")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("a and b must be finite")
    if b.mean() <= 0:
        raise ValueError("mean(b) must be positive: the difference is relative to it")
    check_bootstrap_settings(confidence, n_resamples)
    rng = np.random.default_rng(seed)
    n = len(a)
    relative = np.empty(n_resamples)
    for start in range(0, n_resamples, 200):  # chunks keep memory at 200 x n_users
        size = min(200, n_resamples - start)
        rows = rng.integers(0, n, size=(size, n))
        relative[start : start + size] = (
            a[rows].mean(axis=1) / np.maximum(b[rows].mean(axis=1), 1e-300) - 1.0
        )
    return from_resamples(float(a.mean()), float(b.mean()), relative, confidence, n)


def check_bootstrap_settings(confidence: float, n_resamples: int) -> None:
    """Refuse an interval width outside (0, 1) or fewer than 100 resamples."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_resamples < 100:
        raise ValueError(f"use at least 100 resamples, got {n_resamples}")


def from_resamples(
    mean_a: float, mean_b: float, relative: np.ndarray, confidence: float, n_units: int
) -> Comparison:
    """The :class:`Comparison` of two means, its interval the percentiles of `relative`
    (``a / b - 1`` on each bootstrap resample); used by every bootstrap of the course."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(relative, [tail, 1.0 - tail])
    return Comparison(
        mean_a=float(mean_a),
        mean_b=float(mean_b),
        relative=float(mean_a / mean_b - 1.0),
        low=float(low),
        high=float(high),
        confidence=confidence,
        n_users=n_units,
        n_resamples=len(relative),
    )
