"""Coverage of a lexicon against the TC260-003 §8.1 keyword-library floors."""

from __future__ import annotations

import io
from dataclasses import dataclass

from .lexicon import Lexicon

__all__ = ["CoverageReport", "CoverageRow", "coverage_report", "export_csv"]

#: §8.1 a): at least this many keywords in all.
TOTAL_FLOOR = 10_000
#: §8.1 b): per-risk floors for the A.1 and A.2 risks.
CLASS_FLOORS = {"a1": 200, "a2": 100}


@dataclass(frozen=True, slots=True)
class CoverageRow:
    """Terms rolled up to one Appendix A risk and the floor that applies to it (0 = none)."""

    risk: str
    name_zh: str
    name_en: str
    terms: int
    floor: int

    @property
    def ok(self) -> bool:
        """Whether this risk has at least its floor of terms."""
        return self.terms >= self.floor


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """Totals per Appendix A risk and whether the §8.1 floors hold."""

    total: int  # distinct terms
    total_floor: int
    rows: tuple[CoverageRow, ...]
    unassigned: int  # terms in categories that roll up to no Appendix A risk (custom, x.injection)

    @property
    def ok(self) -> bool:
        """Whether every §8.1 floor holds (the total and each A.1/A.2 risk)."""
        return self.total >= self.total_floor and all(r.ok for r in self.rows)

    def to_text(self) -> str:
        """A readable table for the terminal."""
        lines = [f"{'risk':34} {'terms':>7} {'floor':>6}  status  name"]
        for r in self.rows:
            status = "ok" if r.ok else "BELOW"
            floor = str(r.floor) if r.floor else "-"
            lines.append(f"{r.risk:34} {r.terms:>7} {floor:>6}  {status:6}  {r.name_zh}")
        total_status = "ok" if self.total >= self.total_floor else "BELOW"
        lines.append(
            f"{'total (distinct terms)':34} {self.total:>7} {self.total_floor:>6}  {total_status:6}"
        )
        if self.unassigned:
            lines.append(f"{'not under an Appendix A risk':34} {self.unassigned:>7}")
        lines.append("TC260-003 §8.1 floors: " + ("MET" if self.ok else "NOT MET"))
        return "\n".join(lines)


def coverage_report(lex: Lexicon) -> CoverageReport:
    """Count the lexicon's terms per TC260-003 Appendix A risk (finer tags roll up)."""
    tax = lex.taxonomy
    per_risk: dict[str, set[str]] = {}
    unassigned: set[str] = set()
    distinct: set[str] = set()
    for term, category, _action, _severity in lex.iter_terms():
        distinct.add(term)
        risk = tax.risk_of(category)
        if risk is None:
            unassigned.add(term)
        else:
            per_risk.setdefault(risk, set()).add(term)
    rows = []
    for cat in tax:
        if tax.risk_of(cat.id) != cat.id:
            continue
        floor = CLASS_FLOORS.get(cat.id.split(".")[0], 0)
        rows.append(
            CoverageRow(cat.id, cat.name_zh, cat.name_en, len(per_risk.get(cat.id, ())), floor)
        )
    return CoverageReport(len(distinct), TOTAL_FLOOR, tuple(rows), len(unassigned))


def export_csv(lex: Lexicon) -> str:
    """The keyword list by category as CSV (UTF-8 text with a header), for a filing."""
    import csv  # here: scans need no CSV

    tax = lex.taxonomy
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["risk", "category", "name_zh", "name_en", "term", "action", "severity"])
    rows = []
    for term, category, action, severity in lex.iter_terms():
        cat = tax.get(category)
        rows.append(
            (
                tax.risk_of(category) or "",
                category,
                cat.name_zh if cat else category,
                cat.name_en if cat else category,
                term,
                action,
                severity,
            )
        )
    rows.sort(key=lambda r: (r[0] == "", r[0], r[1]))
    writer.writerows(rows)
    return buf.getvalue()
