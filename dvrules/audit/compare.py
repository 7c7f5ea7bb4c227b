"""Year-on-year: what changed between two assessments of the same flow.

Items that changed status, the level or score change, answers that changed, and what is still
missing in the later one. Both sides are assessed with today's knowledge, so a difference is a
difference in the answers, never in the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from dvrules.answers import Answer, check_answers
from dvrules.api import DVRules
from dvrules.audit.view import STATUS_WORDS, show_answer
from dvrules.results import AssessmentResult


class StatusChange(BaseModel):
    id: str
    title: str
    before: str
    after: str


class AnswerChange(BaseModel):
    id: str
    label: str
    before: str
    after: str


class Missing(BaseModel):
    id: str
    title: str
    status: str
    next_step: str


class Comparison(BaseModel):
    flow: str
    title: str
    before_label: str
    after_label: str
    before_summary: dict[str, Any]
    after_summary: dict[str, Any]
    headline: str
    items: list[StatusChange]
    answers: list[AnswerChange]
    still_missing: list[Missing]


def compare(
    rules: DVRules,
    flow: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    before_label: str = "before",
    after_label: str = "after",
) -> Comparison:
    b_ans = check_answers(rules.kb, flow, before)
    a_ans = check_answers(rules.kb, flow, after)
    b, a = rules.assess(flow, b_ans), rules.assess(flow, a_ans)
    assert isinstance(b, AssessmentResult) and isinstance(a, AssessmentResult)
    b_status = {r.id: r.status for r in b.requirements + (b.monitoring or [])}
    items = [
        StatusChange(id=r.id, title=r.title, before=b_status.get(r.id, "unknown"), after=r.status)
        for r in a.requirements + (a.monitoring or [])
        if b_status.get(r.id, "unknown") != r.status
    ]
    b_kept, a_kept = rules.effective_answers(flow, b_ans), rules.effective_answers(flow, a_ans)
    answers = []
    for qid in rules.kb.flow(flow).questions:
        was, now = _value(b_kept, qid), _value(a_kept, qid)
        if was != now:
            q = rules.kb.questions[qid]
            answers.append(
                AnswerChange(
                    id=qid,
                    label=q.short or q.text,
                    before=show_answer(rules, qid, b_kept),
                    after=show_answer(rules, qid, a_kept),
                )
            )
    missing = [
        Missing(id=g.id, title=g.title, status=g.status or "not_met", next_step=g.next_step)
        for g in a.gaps
    ]
    return Comparison(
        flow=flow,
        title=rules.kb.flow(flow).title,
        before_label=before_label,
        after_label=after_label,
        before_summary=b.summary,
        after_summary=a.summary,
        headline=change_headline(b, a, before_label, after_label),
        items=items,
        answers=answers,
        still_missing=missing,
    )


_ABSENT = object()


def _value(answers: Mapping[str, Answer], qid: str) -> Any:
    return answers.get(qid, _ABSENT)


def change_headline(b: AssessmentResult, a: AssessmentResult, before: str, after: str) -> str:
    if "level_attained" in a.summary:
        was, now = b.summary["level_attained"], a.summary["level_attained"]
        move = "up" if now > was else "down" if now < was else "unchanged"
        return f"Level attained: {was} in {before}, {now} in {after} ({move})"
    if "score" in a.summary:
        was, now = b.summary["score"], a.summary["score"]
        diff = round(now - was, 1)
        sign = "+" if diff > 0 else ""
        return f"BVPI 225 score: {was}% in {before}, {now}% in {after} ({sign}{diff} points)"
    return (
        f"Standards met: {b.summary['met']} in {before}, {a.summary['met']} in {after} "
        f"(of {a.summary['total']})"
    )


def markdown(c: Comparison) -> str:
    out = [f"# {c.title}: change from {c.before_label} to {c.after_label}", "", c.headline, ""]
    out += ["## Requirements that changed status", ""]
    if c.items:
        out += [
            "| Requirement | " + f"{esc(c.before_label)} | {esc(c.after_label)} |",
            "| --- | --- | --- |",
        ]
        out += [
            f"| {esc(i.title)} | {STATUS_WORDS[i.before]} | {STATUS_WORDS[i.after]} |"
            for i in c.items
        ]
    else:
        out.append("No requirement changed status.")
    out += ["", "## Answers that changed", ""]
    out += [f"- {a.label}: {a.before} → {a.after}" for a in c.answers] or ["No answer changed."]
    out += ["", f"## Still missing in {c.after_label}", ""]
    out += [f"- {STATUS_WORDS[m.status]}: {m.title}" for m in c.still_missing] or ["Nothing."]
    return "\n".join(out) + "\n"


def esc(text: str) -> str:
    """A Markdown table cell: pipes escaped, no line breaks."""
    return " ".join(str(text).split()).replace("|", "\\|")
