"""Rates with 95% Wilson score intervals (no continuity correction).

Wilson, E. B. (1927) "Probable inference, the law of succession, and statistical inference";
the same interval as Newcombe (1998) method 3 and ``scipy.stats.binomtest(...).proportion_ci(
method="wilson")``, which the tests compare against. Unlike the normal approximation it stays
inside [0, 1] and is usable at rates near 0 or 1 and small n, where the §9 thresholds sit.
"""

from __future__ import annotations

import math

__all__ = ["Z95", "rate", "wilson"]

Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal distribution


def wilson(ok: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson interval of ``ok`` successes out of ``n``; ``(0, 1)`` when ``n`` is 0."""
    if n < 0 or not 0 <= ok <= n:
        raise ValueError(f"need 0 <= ok <= n, got ok={ok}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = ok / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # at 0 and n successes the bound is exactly 0 (resp. 1); rounding would leave 1e-16 off
    low = 0.0 if ok == 0 else max(0.0, centre - half)
    high = 1.0 if ok == n else min(1.0, centre + half)
    return low, high


def rate(ok: int, n: int) -> dict[str, object]:
    """``{"n", "ok", "rate", "ci95"}``; rate and interval are None when ``n`` is 0."""
    if n == 0:
        return {"n": 0, "ok": 0, "rate": None, "ci95": None}
    low, high = wilson(ok, n)
    return {"n": n, "ok": ok, "rate": ok / n, "ci95": [low, high]}
