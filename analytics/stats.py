"""Intervals and sample sizes for the report's comparisons: pure functions, no I/O.

The report compares arms and groups on rates and means; a figure without its interval reads as more
certain than it is, and "no significant difference" needs the sample size beside it to read as "not
enough cases yet" (docs/research/kpis.md, section 3). Quantiles come from scipy.stats.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as sps

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def z_two_sided(alpha: float = ALPHA) -> float:
    """The standard normal quantile z_{1-alpha/2} (1.959964 for alpha 0.05)."""
    return float(sps.norm.ppf(1 - alpha / 2))


def wilson(successes: int, n: int, alpha: float = ALPHA) -> Interval:
    """Wilson score interval for a proportion: (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n).

    Source: E. B. Wilson (1927), JASA 22:209-212; Newcombe (1998), Stat Med 17:857-872, method 3.
    Better coverage than the Wald interval near 0 and 1, where collection rates often sit."""
    if n <= 0:
        raise ValueError("a proportion needs n > 0")
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} outside 0..{n}")
    z = z_two_sided(alpha)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe(successes1: int, n1: int, successes2: int, n2: int, alpha: float = ALPHA) -> Interval:
    """Newcombe's hybrid score interval for p1 − p2, from each group's Wilson limits (l_i, u_i):
    L = d − √((p1 − l1)² + (u2 − p2)²), U = d + √((u1 − p1)² + (p2 − l2)²).

    Source: R. G. Newcombe (1998), "Interval estimation for the difference between independent
    proportions: comparison of eleven methods", Stat Med 17:873-890, method 10."""
    a, b = wilson(successes1, n1, alpha), wilson(successes2, n2, alpha)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, low, high)


@dataclass(frozen=True)
class MeanInterval(Interval):
    df: float


def mean_interval(values: Sequence[float], alpha: float = ALPHA) -> Interval:
    """Student's t interval for one mean: x̄ ± t_{n−1, 1−α/2}·s/√n (a single value gives no width)."""
    n = len(values)
    if n == 0:
        raise ValueError("a mean needs at least one value")
    mean = sum(values) / n
    if n == 1:
        return Interval(mean, mean, mean)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(sps.t.ppf(1 - alpha / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half)


def welch(values1: Sequence[float], values2: Sequence[float], alpha: float = ALPHA) -> MeanInterval:
    """Welch interval for x̄1 − x̄2: SE = √(s1²/n1 + s2²/n2), Welch–Satterthwaite
    df = SE⁴ / [(s1²/n1)²/(n1−1) + (s2²/n2)²/(n2−1)], d ± t_{df, 1−α/2}·SE.

    Source: B. L. Welch (1947), Biometrika 34:28-35; F. E. Satterthwaite (1946), Biometrics Bull 2:110-114.
    Unequal variances are the rule for collected amounts per case (zero-heavy and skewed)."""
    n1, n2 = len(values1), len(values2)
    if n1 < 2 or n2 < 2:
        raise ValueError("Welch's interval needs at least two values in each group")
    m1, m2 = sum(values1) / n1, sum(values2) / n2
    v1 = sum((v - m1) ** 2 for v in values1) / (n1 - 1) / n1
    v2 = sum((v - m2) ** 2 for v in values2) / (n2 - 1) / n2
    d = m1 - m2
    se = math.sqrt(v1 + v2)
    if se == 0:
        return MeanInterval(d, d, d, float(n1 + n2 - 2))
    df = se ** 4 / (v1 ** 2 / (n1 - 1) + v2 ** 2 / (n2 - 1))
    half = float(sps.t.ppf(1 - alpha / 2, df)) * se
    return MeanInterval(d, d - half, d + half, df)


def sample_size_two_proportions(p1: float, p2: float, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """Cases per arm to detect p1 vs p2 (two-sided alpha, the given power), equal arms, no continuity
    correction: n = [z_{1−α/2}·√(2p̄(1−p̄)) + z_{1−β}·√(p1(1−p1) + p2(1−p2))]² / (p1 − p2)², p̄ = (p1+p2)/2.

    Source: J. L. Fleiss, B. Levin, M. C. Paik (2003), Statistical Methods for Rates and Proportions,
    3rd ed., chapter 4 (the formula without the continuity correction); docs/research/kpis.md [mde].
    None when p1 = p2: no sample is large enough."""
    for p in (p1, p2):
        if not 0 <= p <= 1:
            raise ValueError(f"a proportion must be within 0..1, not {p}")
    if p1 == p2:
        return None
    p_bar = (p1 + p2) / 2
    za, zb = z_two_sided(alpha), float(sps.norm.ppf(power))
    root = za * math.sqrt(2 * p_bar * (1 - p_bar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (p1 - p2) ** 2)


def kaplan_meier(durations: Sequence[float], events: Sequence[bool]) -> list[tuple[float, float, int, int]]:
    """The Kaplan–Meier survival curve Ŝ(t) = Π_{t_i ≤ t} (1 − d_i/n_i): one (t_i, Ŝ(t_i), n_i, d_i) per
    distinct event time. Censored rows (events False) leave the risk set after their time.

    Source: E. L. Kaplan, P. Meier (1958), JASA 53:457-481. Plans too young to have reached a month
    count as at risk only while they have been watched, which a "kept after N months" share gets wrong."""
    if len(durations) != len(events):
        raise ValueError("one event flag per duration")
    rows = sorted(zip(durations, events, strict=True))
    at_risk, survival, curve, i = len(rows), 1.0, [], 0
    while i < len(rows):
        t, deaths, leaving = rows[i][0], 0, 0
        while i < len(rows) and rows[i][0] == t:
            deaths += rows[i][1]
            leaving += 1
            i += 1
        if deaths:
            survival *= 1 - deaths / at_risk
            curve.append((t, survival, at_risk, deaths))
        at_risk -= leaving
    return curve


def survival_at(curve: Sequence[tuple[float, float, int, int]], t: float) -> float:
    """Ŝ(t) read off a Kaplan–Meier curve (1 before the first event)."""
    value = 1.0
    for time, s, _, _ in curve:
        if time > t:
            break
        value = s
    return value
