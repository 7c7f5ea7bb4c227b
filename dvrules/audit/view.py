"""The audit pack's one model of an assessment: what the report, the plan and compare show.

Built once from the engine's ``AssessmentResult`` and the knowledge (labels, units, sources),
so HTML, PDF, Markdown, CSV and XLSX all say the same thing. Unknown is its own state here:
an answer not given or "don't know" is "not known yet", never "not met".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel

from dvrules.answers import Answer, _fmt, check_answers
from dvrules.api import DVRules
from dvrules.conditions import leaves, threshold
from dvrules.results import AssessmentResult, RequirementResult
from dvrules.schema import All, AnyOf, Not, Requirement, Test

STATUS_WORDS = {"met": "Met", "not_met": "Not met", "unknown": "Not known yet"}
RAG = {"met": "green", "not_met": "red", "unknown": "amber"}
LEVEL_WORDS = {"attained": "Attained", "not_attained": "Not attained", "unknown": "Not known yet"}


class AnswerRow(BaseModel):
    id: str
    label: str
    value: str  # the answer in words, with its unit
    evidence: str | None = None


class RequirementRow(BaseModel):
    id: str
    ref: str  # short reference for tables and plans, e.g. L2-04 or Q07
    title: str
    level: int | None
    status: Literal["met", "not_met", "unknown"]
    status_text: str
    rag: str
    answers: list[AnswerRow]
    because: list[str]
    measure: str  # what reaching the requirement takes, with units
    next_step: str
    source: str
    scored: bool = True


class GapGroup(BaseModel):
    heading: str
    level: int | None
    rows: list[RequirementRow]


class Audit(BaseModel):
    flow: str
    gaps_heading: str
    title: str
    area: str | None
    period: str | None
    date: str
    role: str | None
    knowledge_version: str
    headline: str
    result: AssessmentResult
    rows: list[RequirementRow]
    monitoring: list[RequirementRow]
    gap_groups: list[GapGroup]


def cite_text(rules: DVRules, source: Mapping[str, Any]) -> str:
    """Document title (publisher, year), section, footnote: readable on paper."""
    doc = rules.kb.documents.get(source["document"])
    name = source["document"]
    if doc is not None:
        name = doc.title + (f" ({doc.year})" if doc.year else "")
    text = f"{name}, {source['section']}"
    return f"{text}, footnote {source['footnote']}" if source.get("footnote") else text


def show_answer(rules: DVRules, qid: str, answers: Mapping[str, Answer]) -> str:
    """An answer in words with its unit; "not answered" and "don't know" said as such."""
    if qid not in answers:
        return "not answered"
    value = answers[qid]
    if value is None:
        return "don't know"
    q = rules.kb.questions[qid]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{_fmt(value)} {q.unit}" if q.unit else _fmt(value)
    labels = {c.id: c.label for c in rules.kb.choices(q)}
    if isinstance(value, list):
        return (
            f"{len(value)} chosen: " + "; ".join(labels.get(v, v) for v in value)
            if value
            else "none chosen"
        )
    return labels.get(value, str(value))


def _test_text(rules: DVRules, t: Test) -> str:
    want = threshold(t.operand, rules.params)
    if t.subject in rules.kb.questions:
        q = rules.kb.questions[t.subject]
        label, unit = q.short or q.text, q.unit
        labels = {c.id: c.label for c in rules.kb.choices(q)}
    else:
        label, unit, labels = rules.kb.values[t.subject].title, None, {}
    words = {
        "at_least": "at least",
        "at_most": "at most",
        "more_than": "more than",
        "less_than": "less than",
    }
    if t.op in words:
        return f"{label}: {words[t.op]} {_fmt(want)}" + (f" {unit}" if unit else "")
    if t.op == "is_":
        if isinstance(want, bool):
            return f"{label}: {'yes' if want else 'no'}"
        return f"{label}: {labels.get(want, want)}"
    if t.op == "in_":
        return f"{label}: one of " + "; ".join(labels.get(w, w) for w in want)
    if t.op == "count_at_least":
        return f"{label}: at least {want} chosen"
    return f"{label}: includes {labels.get(want, want)}"


def measure(rules: DVRules, r: Requirement) -> str:
    """The thresholds a requirement sets, in words with units; routes joined by "or"."""
    return _cond_text(rules, r.when, top=True)


def _cond_text(rules: DVRules, cond: Any, top: bool = False) -> str:
    if isinstance(cond, Test):
        return _test_text(rules, cond)
    if isinstance(cond, All):
        return "; ".join(_cond_text(rules, c) for c in cond.all)
    if isinstance(cond, AnyOf):
        text = " OR ".join(_cond_text(rules, c) for c in cond.any)
        return text if top else f"({text})"
    if isinstance(cond, Not):
        return f"not ({_cond_text(rules, cond.not_)})"
    return rules.kb.outcomes[cond.item].title


def inputs(rules: DVRules, r: Requirement) -> list[str]:
    """The questions a requirement reads, in the flow's asking order."""
    found: list[str] = []
    for leaf in leaves(r.when):
        found += [q for q in rules.kb.inputs_of(leaf) if q not in found]
    order = {q: i for i, q in enumerate(rules.kb.flow(r.flow).questions)}
    return sorted(found, key=lambda q: order.get(q, len(order)))


def _ref(r: Requirement, index: int) -> str:
    return f"L{r.level}-{index:02d}" if r.level else f"Q{index:02d}"


def headline(result: AssessmentResult) -> str:
    s = result.summary
    if "level_attained" in s:
        levels = result.levels or []
        unknown = sum(lv.unknown for lv in levels)
        text = f"Level attained: {s['level_attained']} of {len(levels)}"
        if s.get("level_possible", s["level_attained"]) > s["level_attained"]:
            text += (
                f"; level {s['level_possible']} still possible "
                f"({unknown} requirement{'s' if unknown != 1 else ''} not known yet)"
            )
        return text
    if "score" in s:
        text = f"BVPI 225 score: {s['score']}% ({s['yes']} of {s['total']} fully achieved)"
        if s.get("unknown"):
            text += f"; up to {s['score_max']}% if the {s['unknown']} not known yet are achieved"
        return text
    unknown = sum(1 for r in result.requirements if r.status == "unknown")
    return f"Standards met: {s['met']} of {s['total']}" + (
        f" ({unknown} not known yet)" if unknown else ""
    )


def build(
    rules: DVRules,
    flow: str,
    answers: Mapping[str, Answer],
    *,
    area: str | None = None,
    period: str | None = None,
    role: str | None = None,
    evidence: Mapping[str, str] | None = None,
    today: dt.date | None = None,
) -> Audit:
    result = rules.assess(flow, answers)
    assert isinstance(result, AssessmentResult)
    evidence = evidence or {}
    kept = rules.effective_answers(flow, check_answers(rules.kb, flow, answers))
    # an input is shown if answered, or still open; moot ones (behind a "no") are left out
    shown = set(kept) | set(rules.wanted_questions(flow, kept))
    counters: dict[int | None, int] = {}

    def row(rr: RequirementResult, scored: bool = True) -> RequirementRow:
        r = rules.kb.outcomes[rr.id]
        assert isinstance(r, Requirement)
        counters[r.level] = counters.get(r.level, 0) + 1
        ans = [
            AnswerRow(
                id=q,
                label=rules.kb.questions[q].short or rules.kb.questions[q].text,
                value=show_answer(rules, q, kept),
                evidence=evidence.get(q),
            )
            for q in inputs(rules, r)
            if q in shown
        ]
        return RequirementRow(
            id=r.id,
            ref=_ref(r, counters[r.level]) if scored else f"M{counters[r.level]:02d}",
            title=r.title,
            level=r.level,
            status=rr.status,
            status_text=STATUS_WORDS[rr.status],
            rag=RAG[rr.status],
            answers=ans,
            because=rr.because,
            measure=measure(rules, r),
            next_step=r.next_step,
            source=cite_text(rules, rr.source),
            scored=scored,
        )

    rows = [row(rr) for rr in result.requirements]
    counters.clear()
    monitoring = [row(rr, scored=False) for rr in result.monitoring or []]
    return Audit(
        flow=flow,
        gaps_heading="Gaps, next level first" if result.levels else "Gaps",
        title=rules.kb.flow(flow).title,
        area=area,
        period=period,
        date=(today or dt.date.today()).isoformat(),
        role=role,
        knowledge_version=result.knowledge_version,
        headline=headline(result),
        result=result,
        rows=rows,
        monitoring=monitoring,
        gap_groups=gap_groups(result, rows),
    )


def gap_groups(result: AssessmentResult, rows: list[RequirementRow]) -> list[GapGroup]:
    """Gaps toward the next level first, then the level after; unknowns first within a level
    (finding out is the cheapest step and may show a requirement is already met)."""
    open_rows = [r for r in rows if r.status != "met"]
    if result.levels:
        attained = result.summary["level_attained"]
        groups = []
        for lv in range(attained + 1, len(result.levels) + 1):
            at = sorted(
                (r for r in open_rows if r.level == lv), key=lambda r: r.status != "unknown"
            )
            if not at:
                continue
            step = lv - attained
            when = "next level" if step == 1 else "the level after" if step == 2 else "later"
            groups.append(GapGroup(heading=f"Level {lv} ({when})", level=lv, rows=at))
        return groups
    at = sorted(open_rows, key=lambda r: r.status != "unknown")
    return [GapGroup(heading="", level=None, rows=at)] if at else []
