"""The recall benchmark's table: every family has houbb's documented support beside it."""

from __future__ import annotations

import benchmarks.quality_recall as qr


def test_every_family_has_houbbs_documented_support():
    assert set(qr.HOUBB) == set(qr.DEFAULT) | set(qr.OPT_IN)
    assert all(qr.HOUBB.values())
