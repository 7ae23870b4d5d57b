"""Coverage against the TC260-003 §8.1 floors and the CSV export."""

from __future__ import annotations

import csv
import io

from lexicons import coverage_report, export_csv

from .helpers import lexicon_from


def test_finer_tags_roll_up_and_floors_are_checked(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {
            "a1.violence_obscenity.txt": "词一\n词二\n",
            "x.harmful.gore.txt": "词三\n词一\n",  # rolls up to a1.violence_obscenity
            "a2.region.txt": "词四\n",
            "x.injection.txt": "词五\n",  # policy only: no Appendix A risk
        },
    )
    report = coverage_report(lex)
    rows = {r.risk: r for r in report.rows}
    assert len(rows) == 31
    assert rows["a1.violence_obscenity"].terms == 3  # distinct terms: 词一 counted once
    assert (rows["a1.violence_obscenity"].floor, rows["a2.region"].floor) == (200, 100)
    assert rows["a3.ip_infringement"].floor == 0 and rows["a3.ip_infringement"].ok
    assert not rows["a2.region"].ok
    assert report.total == 5 and report.unassigned == 1 and not report.ok
    assert "NOT MET" in report.to_text()


def test_csv_export_by_category(tmp_path):
    lex = lexicon_from(
        tmp_path,
        {"a2.region.txt": "词四\taction=block\n", "a1.separatism.txt": "词六\n"},
    )
    rows = list(csv.DictReader(io.StringIO(export_csv(lex))))
    assert [(r["risk"], r["term"], r["action"]) for r in rows] == [
        ("a1.separatism", "词六", "block"),
        ("a2.region", "词四", "block"),
    ]
    assert rows[1]["name_zh"] == "地域歧视内容"
