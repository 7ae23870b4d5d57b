"""Wilson intervals checked against scipy and against a published table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from service.assess.stats import rate, wilson

# Newcombe, R. G. (1998). "Two-sided confidence intervals for the single proportion: comparison
# of seven methods." Statistics in Medicine 17, 857-872, Table II, method 3 (score interval
# without continuity correction), to four decimals.
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("ok", "n", "low", "high"), NEWCOMBE)
def test_published_table(ok: int, n: int, low: float, high: float) -> None:
    got = wilson(ok, n)
    assert round(got[0], 4) == low and round(got[1], 4) == high


def scipy_wilson(ok: int, n: int) -> tuple[float, float]:
    ci = binomtest(ok, n).proportion_ci(confidence_level=0.95, method="wilson")
    return ci.low, ci.high


def test_every_count_up_to_80_matches_scipy() -> None:
    for n in range(1, 81):
        for ok in range(n + 1):
            assert wilson(ok, n) == pytest.approx(scipy_wilson(ok, n), abs=1e-12), (ok, n)


@given(n=st.integers(1, 100_000), frac=st.floats(0, 1))
def test_large_counts_match_scipy(n: int, frac: float) -> None:
    ok = round(frac * n)
    low, high = wilson(ok, n)
    assert (low, high) == pytest.approx(scipy_wilson(ok, n), abs=1e-9)
    assert 0.0 <= low <= ok / n <= high <= 1.0


def test_rate_block_and_edge_cases() -> None:
    assert rate(0, 0) == {"n": 0, "ok": 0, "rate": None, "ci95": None}
    block = rate(19, 20)
    assert block["n"] == 20 and block["ok"] == 19 and block["rate"] == 0.95
    assert block["ci95"] == pytest.approx(list(scipy_wilson(19, 20)))
    assert wilson(0, 0) == (0.0, 1.0)
    for bad in ((-1, 3), (4, 3), (1, -1)):
        with pytest.raises(ValueError):
            wilson(*bad)
