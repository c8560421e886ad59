"""The statistics of an online controlled experiment (A/B test), each in a few lines.

- :func:`hash_assign`: a user's arm from a hash of the experiment's salt and the user id
  (stable across sessions and machines, independent between experiments);
- :func:`difference_in_means`: the effect on a per-user metric with Welch's standard
  error, a confidence interval and a two-sided test; :func:`ratio_difference` does the
  same for a ratio of sums such as clicks per impression (the delta method);
- :func:`srm_test`: the chi-square test for a sample ratio mismatch (are the arms the
  sizes the design says?); an SRM means the comparison is broken, whatever it shows;
- :func:`cuped`: CUPED (Deng et al. 2013), the metric minus theta times its pre-period
  covariate, same expected effect, less variance;
- :func:`sample_size` and :func:`power`: how many users per arm detect an effect;
- :func:`team_draft` and :class:`TeamDraftPolicy`: team-draft interleaving (Radlinski et
  al. 2008; Chapelle et al. 2012), both rankers in one slate, credit by clicks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ecomrec.environment.policies import Observation, Policy


# ---------------------------------------------------------------------------- assignment
def hash_assign(
    units: Sequence[int] | np.ndarray,
    salt: str,
    weights: Sequence[float] = (0.5, 0.5),
) -> np.ndarray:
    """The arm of each unit: SHA-256 of ``f"{salt}:{unit}"`` mapped to [0, 1), cut by weights.

    The same salt and unit always give the same arm; a new salt re-randomises everyone.

    Example:
        >>> hash_assign([1, 2, 3, 4], "demo").tolist() == hash_assign([1, 2, 3, 4], "demo").tolist()
        True
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or len(weights) < 2 or (weights <= 0).any():
        raise ValueError(f"weights must be two or more positive shares, got {weights.tolist()}")
    cuts = np.cumsum(weights / weights.sum())
    points = np.array(
        [
            int.from_bytes(hashlib.sha256(f"{salt}:{int(u)}".encode()).digest()[:8], "big")
            / 2.0**64
            for u in np.asarray(units).ravel()
        ]
    )
    return np.minimum(np.searchsorted(cuts, points, side="right"), len(weights) - 1)


# ---------------------------------------------------------------------------- effects
@dataclass(frozen=True)
class Effect:
    """Treatment minus control, with its standard error, interval and two-sided test."""

    control_mean: float
    treatment_mean: float
    difference: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_control: int
    n_treatment: int
    confidence: float = 0.95

    @property
    def relative(self) -> float:
        """The difference as a share of the control mean."""
        return self.difference / self.control_mean if self.control_mean else float("nan")

    @property
    def significant(self) -> bool:
        return self.p_value < 1.0 - self.confidence

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "relative": self.relative}


def _effect(mean_c, mean_t, se, n_c, n_t, confidence) -> Effect:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    diff = mean_t - mean_c
    z = stats.norm.ppf(0.5 + confidence / 2)
    if se > 0:
        p = float(2 * stats.norm.sf(abs(diff) / se))
    else:  # no variance at all: the difference is certain
        p = 1.0 if diff == 0 else 0.0
    return Effect(
        float(mean_c), float(mean_t), float(diff), float(se),
        float(diff - z * se), float(diff + z * se), p, int(n_c), int(n_t), confidence,
    )  # fmt: skip


def _values(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) < 2:
        raise ValueError(f"{what} needs at least 2 units, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return x


def difference_in_means(control, treatment, confidence: float = 0.95) -> Effect:
    """Mean of treatment minus mean of control over units (users), Welch's standard error.

    With thousands of users per arm the t distribution is the normal one, so the interval
    and p-value use the normal quantiles.
    """
    c, t = _values(control, "control"), _values(treatment, "treatment")
    se = np.sqrt(c.var(ddof=1) / len(c) + t.var(ddof=1) / len(t))
    return _effect(c.mean(), t.mean(), se, len(c), len(t), confidence)


def _ratio_and_variance(num: np.ndarray, den: np.ndarray) -> tuple[float, float]:
    n = len(num)
    mx, my = den.mean(), num.mean()
    if mx <= 0:
        raise ValueError("the denominator of a ratio metric must have a positive mean")
    ratio = my / mx
    cov = np.cov(num, den, ddof=1)
    # delta method: Var(Y/X) ~ (Var Y - 2 r Cov(Y, X) + r^2 Var X) / (n mean(X)^2)
    var = (cov[0, 0] - 2 * ratio * cov[0, 1] + ratio**2 * cov[1, 1]) / (n * mx**2)
    return float(ratio), float(max(var, 0.0))


def ratio_difference(
    control_num, control_den, treatment_num, treatment_den, confidence: float = 0.95
) -> Effect:
    """Difference of two ratios of sums (e.g. clicks / impressions) randomised by user.

    The users, not the impressions, are the independent units, so the standard error comes
    from the delta method over per-user sums (Deng, Knoblich and Lu 2018).
    """
    cn, cd = _values(control_num, "control_num"), _values(control_den, "control_den")
    tn, td = _values(treatment_num, "treatment_num"), _values(treatment_den, "treatment_den")
    if len(cn) != len(cd) or len(tn) != len(td):
        raise ValueError("each arm needs one numerator and one denominator per user")
    rc, vc = _ratio_and_variance(cn, cd)
    rt, vt = _ratio_and_variance(tn, td)
    return _effect(rc, rt, np.sqrt(vc + vt), len(cn), len(tn), confidence)


# ---------------------------------------------------------------------------- SRM
@dataclass(frozen=True)
class SRMResult:
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    chi2: float
    p_value: float

    def alarm(self, threshold: float = 0.001) -> bool:
        """True when the split is too far from the design to trust the experiment."""
        return self.p_value < threshold


def srm_test(counts: Sequence[int], shares: Sequence[float] | None = None) -> SRMResult:
    """Pearson's chi-square test of the arm sizes against the designed shares (default equal)."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or len(counts) < 2 or (counts < 0).any() or counts.sum() == 0:
        raise ValueError(f"counts must be two or more non-negative arm sizes, got {counts}")
    shares = np.full(len(counts), 1.0 / len(counts)) if shares is None else np.asarray(shares)
    if shares.shape != counts.shape or (shares <= 0).any():
        raise ValueError("shares must be one positive share per arm")
    expected = counts.sum() * shares / shares.sum()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    p = float(stats.chi2.sf(chi2, df=len(counts) - 1))
    return SRMResult(tuple(int(c) for c in counts), tuple(float(e) for e in expected), chi2, p)


# ---------------------------------------------------------------------------- CUPED
def cuped(metric, covariate) -> tuple[np.ndarray, float]:
    """The CUPED-adjusted metric ``Y - theta (X - mean X)`` and ``theta = Cov(Y, X) / Var X``.

    Pool both arms to estimate theta (the covariate is measured before the experiment, so
    it cannot depend on the arm and the adjusted difference keeps its expectation); then
    compare the adjusted values with :func:`difference_in_means`. The variance shrinks by
    the factor ``1 - corr(Y, X)^2``.
    """
    y, x = _values(metric, "metric"), _values(covariate, "covariate")
    if len(y) != len(x):
        raise ValueError(f"metric has {len(y)} units but covariate {len(x)}: give one each")
    var_x = x.var(ddof=1)
    if var_x == 0:
        raise ValueError("the covariate is constant: CUPED needs a covariate that varies")
    theta = float(np.cov(y, x, ddof=1)[0, 1] / var_x)
    return y - theta * (x - x.mean()), theta


# ---------------------------------------------------------------------------- power
def sample_size(std: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Users per arm for a two-sided test of level alpha to detect `effect` with `power`.

    ``n = 2 (z_{1-alpha/2} + z_{power})^2 std^2 / effect^2`` for two equal arms whose
    metric has standard deviation `std` (from the pre-period). Rounded up.
    """
    if std <= 0 or effect == 0:
        raise ValueError("std must be positive and effect non-zero")
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError("alpha and power must lie between 0 and 1")
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return int(np.ceil(2 * z**2 * std**2 / effect**2))


def power(n_per_arm: int, std: float, effect: float, alpha: float = 0.05) -> float:
    """Chance that a two-sided test of level alpha with n users per arm detects `effect`."""
    if n_per_arm < 1 or std <= 0:
        raise ValueError("n_per_arm must be at least 1 and std positive")
    shift = abs(effect) / (std * np.sqrt(2.0 / n_per_arm))
    z = stats.norm.ppf(1 - alpha / 2)
    return float(stats.norm.sf(z - shift) + stats.norm.cdf(-z - shift))


# ---------------------------------------------------------------------------- interleaving
def team_draft(
    ranking_a: np.ndarray, ranking_b: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Team-draft interleaving of two rankings per row: (slates (n, k), teams (n, k)).

    Each round the team with fewer picks (a coin decides a tie) adds its best item not yet
    in the slate; ``teams`` is 0 where ranker A placed the item and 1 where B did. Each
    ranking must list at least k distinct items.
    """
    ranking_a, ranking_b = np.asarray(ranking_a), np.asarray(ranking_b)
    if ranking_a.shape != ranking_b.shape or ranking_a.ndim != 2 or ranking_a.shape[1] < k:
        raise ValueError(
            f"rankings must both be (n, >= {k}) arrays, got {ranking_a.shape} and {ranking_b.shape}"
        )
    n = len(ranking_a)
    slates = np.empty((n, k), dtype=np.int64)
    teams = np.empty((n, k), dtype=np.int64)
    coins = rng.random((n, k))
    for row in range(n):
        lists = (ranking_a[row].tolist(), ranking_b[row].tolist())
        pointer, picks, chosen = [0, 0], [0, 0], set()
        for slot in range(k):
            team = (
                0 if picks[0] < picks[1] or (picks[0] == picks[1] and coins[row, slot] < 0.5) else 1
            )
            order = lists[team]
            while order[pointer[team]] in chosen:
                pointer[team] += 1
            item = order[pointer[team]]
            chosen.add(item)
            slates[row, slot], teams[row, slot] = item, team
            picks[team] += 1
    return slates, teams


class TeamDraftPolicy(Policy):
    """Interleave two policies' slates by team draft; remembers which team placed each item.

    After a run, :meth:`credit` gives each impression's clicks won by A and by B.
    """

    def __init__(self, policy_a: Policy, policy_b: Policy, seed: int = 0) -> None:
        self.a, self.b = policy_a, policy_b
        self.reads_truth = policy_a.reads_truth or policy_b.reads_truth
        self.rng = np.random.default_rng(seed)
        self.name = f"team-draft({policy_a.name}, {policy_b.name})"
        self._teams: dict[tuple[int, int], np.ndarray] = {}

    def slates(self, observation: Observation, k: int) -> np.ndarray:
        slates, teams = team_draft(self.a.slates(observation, k), self.b.slates(observation, k),
                                   k, self.rng)  # fmt: skip
        for user, time, row in zip(observation.context.users, observation.times, teams,
                                   strict=True):  # fmt: skip
            self._teams[(int(user), int(time))] = row
        return slates

    def teams(self, log) -> np.ndarray:
        """(len(log), k) team of every slot of every impression of a run of this policy."""
        try:
            return np.stack(
                [self._teams[(int(u), int(t))] for u, t in zip(log.user, log.time, strict=True)]
            )
        except KeyError as err:
            raise ValueError(f"impression {err} was not shown by this policy") from err

    def credit(self, log) -> tuple[np.ndarray, np.ndarray]:
        """Per impression: clicks credited to A and to B (0 or 1 each)."""
        teams = self.teams(log)
        clicked = log.click_slot >= 0
        team = teams[np.arange(len(log)), np.maximum(log.click_slot, 0)]
        return (clicked & (team == 0)).astype(np.int64), (clicked & (team == 1)).astype(np.int64)


def interleaving_preference(wins_a, wins_b, confidence: float = 0.95) -> Effect:
    """Per-user clicks won by B minus by A: the mean, its interval and test (paired)."""
    a, b = _values(wins_a, "wins_a"), _values(wins_b, "wins_b")
    if len(a) != len(b):
        raise ValueError("wins_a and wins_b need one value per user each")
    d = b - a
    se = d.std(ddof=1) / np.sqrt(len(d))
    return _effect(0.0, d.mean(), se, len(d), len(d), confidence)
