"""Turn what the rules decided into results a person can act on, each item cited and explained.

``Result.model_dump()`` is the JSON contract of ``dvrules assess --format json`` and of
``Session.result()``. Every requirement, gap, next step, referral and warning carries its
``source`` and the ``because`` sentences naming the answers and thresholds that produced it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from dvrules.answers import Answer, _fmt, round_half_up
from dvrules.conditions import evaluate, explain, open_inputs, threshold
from dvrules.engine import Evaluation, urgency_key
from dvrules.knowledge import KnowledgeBase
from dvrules.schema import (
    Action,
    Criterion,
    Gap,
    ItemRef,
    Pathway,
    Requirement,
    Source,
    Test,
    Warning,
)

StatusWord = Literal["met", "not_met", "unknown"]
LevelStatus = Literal["attained", "not_attained", "unknown"]


class Cited(BaseModel):
    id: str
    title: str
    source: dict[str, Any]


def _omit_none() -> Any:
    """A field left out of the JSON when it does not apply (e.g. levels outside CDRP)."""
    return Field(default=None, exclude_if=lambda v: v is None)


class RequirementResult(Cited):
    level: int | None = _omit_none()
    group: str | None = _omit_none()
    status: StatusWord
    because: list[str]
    questions: list[str]  # the questions that would decide an unknown requirement


class LevelResult(BaseModel):
    """One CDRP level. ``attained`` is True only when known; ``status`` tells a level that is
    not attained apart from one that is still undecided (unknown is never "not attained")."""

    level: int
    met: int
    not_met: int = 0
    unknown: int = 0
    total: int
    percent: float
    attained: bool
    status: LevelStatus = "not_attained"


class GroupResult(BaseModel):
    """How the scored requirements under one heading stand (e.g. one aim of a strategy)."""

    group: str
    met: int
    not_met: int
    unknown: int
    total: int


class GapResult(Cited):
    next_step: str
    status: StatusWord | None = _omit_none()
    level: int | None = _omit_none()
    because: list[str] = []


class NextStep(BaseModel):
    id: str
    text: str
    because: list[str]
    source: dict[str, Any]


class Notice(BaseModel):
    id: str
    text: str
    source: dict[str, Any]


class AssessmentResult(BaseModel):
    flow: str
    knowledge_version: str
    summary: dict[str, Any]
    requirements: list[RequirementResult]
    levels: list[LevelResult] | None = _omit_none()
    groups: list[GroupResult] | None = _omit_none()
    monitoring: list[RequirementResult] | None = _omit_none()
    gaps: list[GapResult]
    next_steps: list[NextStep]


class Risk(BaseModel):
    level: Literal["standard", "medium", "high", "unknown"]
    dash_yes_count: int | None
    marac_criteria: list[str]
    because: list[str]
    notice: Notice | None = None


class ContactResult(BaseModel):
    id: str
    name: str
    serves: str
    phone: str | None = None
    local: bool = False
    source: dict[str, Any]
    last_reviewed: str | None = None
    source_statement: str | None = None


class ReferralItem(Cited):
    why: list[str]
    urgency: Literal["immediate", "today", "routine"]
    contacts: list[ContactResult]
    consent: str | None = None


class ActionResult(Cited):
    because: list[str]


class WarningResult(Cited):
    because: str
    why: list[str]


class ReferralResult(BaseModel):
    flow: Literal["referral"] = "referral"
    knowledge_version: str
    risk: Risk
    referrals: list[ReferralItem]
    actions: list[ActionResult]
    gaps: list[GapResult]
    warnings: list[WarningResult]


Result = AssessmentResult | ReferralResult


def cite(source: Source) -> dict[str, Any]:
    out: dict[str, Any] = {"document": source.document, "section": source.section}
    if source.footnote is not None:
        out["footnote"] = source.footnote
    return out


class Explainer:
    """Plain-word sentences about answers and thresholds, from the knowledge's labels."""

    def __init__(self, kb: KnowledgeBase, answers: Mapping[str, Answer],
                 facts: Mapping[str, Any], params: Mapping[str, float], ev: Evaluation):
        self.kb, self.answers, self.facts, self.params, self.ev = kb, answers, facts, params, ev

    def label(self, name: str) -> str:
        if name in self.kb.questions:
            q = self.kb.questions[name]
            return q.short or q.text
        return self.kb.values[name].title

    def show(self, name: str, value: Any) -> str:
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list):
            return f"{len(value)} chosen" if value else "none chosen"
        if isinstance(value, (int, float)):
            return _fmt(value)
        if name in self.kb.questions:
            for c in self.kb.choices(self.kb.questions[name]):
                if c.id == value:
                    return c.label
        return str(value)

    def need(self, t: Test, negated: bool) -> str:
        want = threshold(t.operand, self.params)
        op = t.op
        if op == "is_":
            if isinstance(want, bool):
                return f"needs {'yes' if want != negated else 'no'}"
            return f"{'must not be' if negated else 'needs'} {self.show(t.subject, want)}"
        if op == "in_":
            names = ", ".join(self.show(t.subject, w) for w in want)
            return f"{'must not be any of' if negated else 'needs one of'}: {names}"
        if op == "includes":
            return f"{'must not include' if negated else 'needs'} {self.show(t.subject, want)}"
        if op == "count_at_least":
            return f"needs {'fewer than' if negated else 'at least'} {want} chosen"
        words = {"at_least": ("at least", "less than"), "at_most": ("at most", "more than"),
                 "more_than": ("more than", "at most"), "less_than": ("less than", "at least")}
        return f"needs {words[op][1 if negated else 0]} {_fmt(want)}"

    def describe(self, t: Test, facts: Mapping[str, Any], params: Mapping[str, float],
                 negated: bool) -> str:
        name = t.subject
        if name in facts:
            shown = self.show(name, facts[name])
        elif name in self.answers:
            shown = "don't know"
        elif name in self.kb.values:
            shown = "cannot be worked out yet"
        else:
            shown = "not answered"
        return f"{self.label(name)}: {shown} ({self.need(t, negated)})"

    def describe_ref(self, ref: ItemRef, holds: bool | None) -> str:
        title = self.kb.outcomes[ref.item].title
        word = {True: "yes", False: "no", None: "not known yet"}[holds]
        return f"{title}: {word}"

    def because(self, cond: Any) -> list[str]:
        return explain(cond, self.facts, self.params, self.ev.status, self.describe,
                       self.describe_ref)

    def open_questions(self, cond: Any) -> list[str]:
        """Questions not answered, or answered "don't know", that could decide ``cond``."""
        return open_inputs(cond, self.facts, self.params, self.ev.status, self.kb.inputs_of)


def status_word(holds: bool | None) -> StatusWord:
    return "unknown" if holds is None else ("met" if holds else "not_met")


# ---------------------------------------------------------------------- assessments


def assessment_result(kb: KnowledgeBase, flow: str, ex: Explainer) -> AssessmentResult:
    summary_spec = kb.flow(flow).summary
    reqs = [o for o in kb.outcomes_of(flow, "requirements") if isinstance(o, Requirement)
            and (o.applies_when is None
                 or evaluate(o.applies_when, ex.facts, ex.params, ex.ev.status) is not False)]
    rows = {r.id: _requirement_row(r, ex) for r in reqs}
    scored = [r for r in reqs if r.scored]
    met = [r for r in scored if rows[r.id].status == "met"]
    summary: dict[str, Any]
    levels: list[LevelResult] | None = None
    next_level = None
    if summary_spec.kind == "levels":
        # Levels build on each other: a level is attained only if every level below it is.
        levels, below = [], "attained"
        for lv in range(1, (summary_spec.levels or 0) + 1):
            at = [r for r in scored if r.level == lv]
            count = {w: sum(1 for r in at if rows[r.id].status == w)
                     for w in ("met", "not_met", "unknown")}
            status: LevelStatus
            if below == "not_attained" or count["not_met"]:
                status = "not_attained"
            elif below == "unknown" or count["unknown"]:
                status = "unknown"
            else:
                status = "attained"
            below = status
            levels.append(LevelResult(
                level=lv, met=count["met"], not_met=count["not_met"], unknown=count["unknown"],
                total=len(at),
                percent=round_half_up(100 * count["met"] / len(at), 1) if at else 0.0,
                attained=status == "attained", status=status))
        level_attained = max((lv.level for lv in levels if lv.attained), default=0)
        # the highest level still reachable if every unknown answer turned out favourable
        level_possible = max((lv.level for lv in levels if lv.status != "not_attained"),
                             default=0)
        next_level = level_attained + 1
        summary = {"level_attained": level_attained, "level_possible": level_possible}
    elif summary_spec.kind == "score":
        total = len(scored)
        unknown = sum(1 for r in scored if rows[r.id].status == "unknown")
        summary = {"yes": len(met), "total": total,
                   "score": round_half_up(len(met) / total * 100, summary_spec.decimals),
                   "unknown": unknown,
                   # the score if every unknown question turned out to be achieved
                   "score_max": round_half_up((len(met) + unknown) / total * 100,
                                              summary_spec.decimals)}
    else:
        summary = {"met": len(met), "total": len(scored)}

    open_reqs = [r for r in scored if rows[r.id].status != "met"]
    open_reqs.sort(key=lambda r: (r.level or 0))
    gaps = [GapResult(id=r.id, title=r.title, next_step=r.next_step, source=cite(r.source),
                      status=rows[r.id].status, level=r.level, because=rows[r.id].because)
            for r in open_reqs]
    first = [r for r in open_reqs if next_level is None or r.level == next_level]
    later = [r for r in open_reqs if r not in first]
    steps = []
    for r in first + later:
        row = rows[r.id]
        if row.status == "unknown":
            asks = "; ".join(kb.questions[q].text for q in row.questions) or r.next_step
            steps.append(NextStep(id=r.id, text=f"Find out and answer: {asks}",
                                  because=row.because, source=row.source))
        else:
            steps.append(NextStep(id=r.id, text=r.next_step, because=row.because,
                                  source=row.source))
    monitoring = [rows[r.id] for r in reqs if not r.scored]
    return AssessmentResult(
        flow=flow, knowledge_version=kb.version, summary=summary,
        requirements=[rows[r.id] for r in scored], levels=levels,
        groups=_groups(scored, rows),
        monitoring=monitoring or None, gaps=gaps, next_steps=steps)


def _groups(scored: list[Requirement], rows: Mapping[str, RequirementResult]
            ) -> list[GroupResult] | None:
    """Counts per heading, in the order the headings first occur; None without headings."""
    heads = list(dict.fromkeys(r.group for r in scored if r.group))
    if not heads:
        return None
    out = []
    for head in heads:
        words = [rows[r.id].status for r in scored if r.group == head]
        out.append(GroupResult(group=head, met=words.count("met"), not_met=words.count("not_met"),
                               unknown=words.count("unknown"), total=len(words)))
    return out


def _requirement_row(r: Requirement, ex: Explainer) -> RequirementResult:
    holds = ex.ev.status(r.id)
    return RequirementResult(
        id=r.id, title=r.title, level=r.level, group=r.group, status=status_word(holds),
        because=ex.because(r.when),
        questions=ex.open_questions(r.when) if holds is None else [],
        source=cite(r.source))


# ---------------------------------------------------------------------- referral

_BANDS = ("standard", "medium", "high")
_URGENCY_ORDER = {"immediate": 0, "today": 1, "routine": 2}


def referral_result(kb: KnowledgeBase, flow: str, ex: Explainer,
                    area: str | None = None) -> ReferralResult:
    spec = kb.flow(flow).summary
    holding = [o for o in kb.outcomes_of(flow) if ex.ev.status(o.id) is True]
    criteria = [o for o in holding if isinstance(o, Criterion)]
    bands = [c.risk_level for c in criteria if c.risk_level]
    level = max(bands, key=_BANDS.index) if bands else "unknown"
    because: list[str] = []
    for c in criteria:
        because += [f"{c.title}: {line}" for line in ex.because(c.when)]
    score = ex.facts.get(spec.score_value) if spec.score_value else None
    notice = None
    if spec.notice:
        d = kb.definitions[spec.notice]
        notice = Notice(id=d.id, text=d.text, source=cite(d.source))
    risk = Risk(level=level, dash_yes_count=score,
                marac_criteria=[c.id.rsplit(".", 1)[-1] for c in criteria if c.marac],
                because=because, notice=notice)

    referrals = []
    for p in sorted((o for o in holding if isinstance(o, Pathway)),
                    key=lambda p: (_URGENCY_ORDER[_urgency(p, ex.ev)], p.order)):
        referrals.append(ReferralItem(
            id=p.id.removeprefix("pathway."), title=p.title, why=ex.because(p.when),
            urgency=_urgency(p, ex.ev), contacts=_contacts(kb, p, area),
            consent=p.consent, source=cite(p.source)))
    actions = [ActionResult(id=a.id, title=a.title, because=ex.because(a.when),
                            source=cite(a.source))
               for a in sorted((o for o in holding if isinstance(o, Action)),
                               key=lambda a: a.order)]
    gaps = [GapResult(id=g.id, title=g.title, next_step=g.next_step, because=ex.because(g.when),
                      source=cite(g.source))
            for g in holding if isinstance(g, Gap)]
    warnings = [WarningResult(id=w.id, title=w.title, because=w.because,
                              why=ex.because(w.when), source=cite(w.source))
                for w in holding if isinstance(w, Warning)]
    return ReferralResult(knowledge_version=kb.version, risk=risk, referrals=referrals,
                          actions=actions, gaps=gaps, warnings=warnings)


def _urgency(p: Pathway, ev: Evaluation) -> Literal["immediate", "today", "routine"]:
    for i, rule in enumerate(p.urgency_rules):
        if ev.status(urgency_key(p.id, i)) is True:
            return rule.urgency
    return p.urgency


def _contacts(kb: KnowledgeBase, p: Pathway, area: str | None) -> list[ContactResult]:
    out = [ContactResult(id=c.id, name=c.name, serves=c.serves, phone=c.phone,
                         source=cite(c.source), last_reviewed=c.last_reviewed,
                         source_statement=c.source_statement)
           for c in (kb.contacts[cid] for cid in p.contacts)]
    if area is not None and p.services:
        for s in kb.directory(area).services:
            if set(s.services) & set(p.services):
                out.append(ContactResult(
                    id=s.id, name=s.name, serves=s.serves,
                    phone=s.contact.phone if s.contact else None, local=True,
                    source=cite(s.source)))
    return out
