"""The action plan in Camden's format, one row per gap, next level first.

Columns as in the Camden Domestic Violence Action Plan 2007-2008: Ref, Outcome, Activity,
Baseline, Performance measure, Lead, Outputs, Funding; plus a SMART check. Lead and Funding are
left for the partnership to fill in: dvrules never invents who does what or with what money.
"""

from __future__ import annotations

import csv
import io

from pydantic import BaseModel

from dvrules.api import DVRules
from dvrules.audit.compare import esc
from dvrules.audit.view import Audit, RequirementRow

COLUMNS = [
    "Ref",
    "Outcome",
    "Activity",
    "Baseline",
    "Performance measure",
    "Lead",
    "Outputs",
    "Funding",
    "SMART check",
]


class PlanRow(BaseModel):
    ref: str
    outcome: str
    activity: str
    baseline: str
    performance_measure: str
    lead: str = ""
    outputs: str
    funding: str = ""
    smart: str

    def cells(self) -> list[str]:
        return [
            self.ref,
            self.outcome,
            self.activity,
            self.baseline,
            self.performance_measure,
            self.lead,
            self.outputs,
            self.funding,
            self.smart,
        ]


def next_period(period: str | None, years: int) -> str | None:
    """``2026-27`` + 1 -> ``2027-28``; ``2026`` + 1 -> ``2027``."""
    if not period:
        return None
    start = int(period[:4]) + years
    return f"{start}-{(start + 1) % 100:02d}" if "-" in period else str(start)


def rows(rules: DVRules, audit: Audit) -> list[PlanRow]:
    """Gaps toward the next level first, then the level after (CDRP); all gaps otherwise."""
    groups = audit.gap_groups[:2] if audit.result.levels else audit.gap_groups
    out = []
    for step, group in enumerate(groups, 1):
        target = next_period(audit.period, step if audit.result.levels else 1)
        for r in group.rows:
            out.append(_row(rules, r, target))
    return out


def _row(rules: DVRules, r: RequirementRow, target: str | None) -> PlanRow:
    open_answers = [a for a in r.answers if a.value in ("not answered", "don't know")]
    if r.status == "unknown":
        asks = "; ".join(rules.kb.questions[a.id].text for a in open_answers)
        activity = f"Find out and record: {asks} If it is not in place: {r.next_step}"
    else:
        activity = r.next_step
    baseline = "; ".join(f"{a.label}: {a.value}" for a in r.answers) or "not known yet"
    measure = r.measure + (f" (by the {target} assessment)" if target else "")
    level = f"Level {r.level}: " if r.level else ""
    return PlanRow(
        ref=r.ref,
        outcome=f"{level}{r.title}",
        activity=activity,
        baseline=baseline,
        performance_measure=measure,
        outputs=f"Evidence for the next assessment that this is met ({r.source})",
        smart=smart_check(bool(open_answers), target is not None),
    )


def smart_check(baseline_open: bool, dated: bool) -> str:
    """Which of Specific / Measurable / Achievable / Relevant / Time-bound the row satisfies.

    Specific and Relevant hold for every row (a named action toward a cited standard);
    Measurable needs a known baseline; Achievable needs a lead and funding, which only the
    partnership can add; Time-bound needs the period the plan is for.
    """
    has = ["Specific"]
    todo: list[str] = []
    (todo if baseline_open else has).append(
        "Measurable" + (" (find out the baseline)" if baseline_open else "")
    )
    todo.append("Achievable (add a lead and funding)")
    has.append("Relevant")
    (has if dated else todo).append("Time-bound" + ("" if dated else " (give --period)"))
    return "Has: " + ", ".join(has) + ". To add: " + ", ".join(todo) + "."


def to_csv(plan: list[PlanRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in plan:
        w.writerow([_safe_cell(c) for c in r.cells()])
    return buf.getvalue()


def _safe_cell(text: str) -> str:
    """No cell starts a spreadsheet formula (=, +, -, @), whatever the knowledge says."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def to_markdown(plan: list[PlanRow], audit: Audit) -> str:
    where = ", ".join(x for x in (audit.area, audit.period) if x)
    out = [
        f"# Action plan: {audit.title}" + (f" ({where})" if where else ""),
        "",
        f"{audit.headline}. Made on {audit.date} with knowledge version "
        f"{audit.knowledge_version}. Lead and Funding are for the partnership to fill in.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + " --- |" * len(COLUMNS),
    ]
    out += ["| " + " | ".join(esc(c) for c in r.cells()) + " |" for r in plan]
    if not plan:
        out.append("| " + " | ".join(["No gaps"] + [""] * (len(COLUMNS) - 1)) + " |")
    return "\n".join(out) + "\n"


def to_xlsx(plan: list[PlanRow], audit: Audit) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    book = xlsxwriter.Workbook(
        buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
    )
    book.set_properties(
        {
            "title": f"Action plan: {audit.title}",
            "comments": f"dvrules knowledge version {audit.knowledge_version}",
        }
    )
    sheet = book.add_worksheet("Action plan")
    head = book.add_format(
        {"bold": True, "bg_color": "#DDDDDD", "text_wrap": True, "valign": "top", "border": 1}
    )
    cell = book.add_format({"text_wrap": True, "valign": "top", "border": 1})
    fill = book.add_format({"text_wrap": True, "valign": "top", "border": 1, "bg_color": "#FFF3C4"})
    widths = [8, 40, 50, 40, 40, 20, 40, 20, 40]
    for i, (name, width) in enumerate(zip(COLUMNS, widths)):
        sheet.set_column(i, i, width)
        sheet.write_string(0, i, name, head)
    for n, r in enumerate(plan, 1):
        for i, text in enumerate(r.cells()):
            sheet.write_string(n, i, text, fill if COLUMNS[i] in ("Lead", "Funding") else cell)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, max(len(plan), 1), len(COLUMNS) - 1)
    sheet.set_landscape()
    sheet.set_paper(9)  # A4
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)
    book.close()
    return buf.getvalue()
