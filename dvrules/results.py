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
from dvrules.conditions import evaluate, explain, leaves, open_inputs, threshold
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


class MaracCriterionResult(BaseModel):
    """A MARAC criterion that holds, by its human title (``id`` is for machines only)."""

    id: str
    title: str
    because: list[str]
    source: dict[str, Any]


class Risk(BaseModel):
    level: Literal["standard", "medium", "high", "unknown"]
    dash_yes_count: int | None
    marac_criteria: list[str]  # ids, for machines; people read ``marac_criteria_met`` titles
    marac_criteria_met: list[MaracCriterionResult] = []
    judgement_reason: str | None = None  # the label of the reason the worker chose
    judgement_reason_id: str | None = None
    because: list[str]
    notice: Notice | None = None


class ContactResult(BaseModel):
    id: str
    name: str
    serves: str
    phone: str | None = None
    url: str | None = None
    local: bool = False
    source: dict[str, Any]
    last_reviewed: str | None = None
    source_statement: str | None = None


Urgency = Literal["immediate", "today", "routine"]


class ReferralItem(Cited):
    why: list[str]
    urgency: Urgency
    contacts: list[ContactResult]
    consent: str | None = None  # a consent rule of this referral's own; None when shared
    consent_shared: bool = False  # the result's one ``consent`` rule covers this referral
    find_local: str | None = None  # how to find the local service when no directory names one


class DoNowStep(BaseModel):
    """One step of the first screen: what to do now, in the order to do it."""

    text: str
    referral: str | None = None  # the referral id (as in ``referrals``) the step comes from
    also: list[str] = []  # further referrals done in the same step (same condition, urgency)
    urgency: Urgency
    contacts: list[ContactResult]
    find_local: str | None = None  # as in the referral: when no local service is named
    because: list[str]  # the answers and thresholds behind it (its referrals' ``why``)
    source: dict[str, Any]


class ConsentRule(BaseModel):
    """The consent rule the referrals share, stated once per result."""

    text: str
    applies_to: list[str]
    source: dict[str, Any]


class ActionResult(Cited):
    because: list[str]


class WarningResult(Cited):
    because: str
    why: list[str]


class ReferralResult(BaseModel):
    flow: Literal["referral"] = "referral"
    knowledge_version: str
    do_now: list[DoNowStep] = []  # at most DO_NOW_STEPS, shown first in every channel
    consent: ConsentRule | None = None
    complete: bool = True  # False: provisional, questions that could change it are unanswered
    questions_remaining: int = 0
    risk: Risk
    referrals: list[ReferralItem]
    actions: list[ActionResult]
    gaps: list[GapResult]
    warnings: list[WarningResult]


Result = AssessmentResult | ReferralResult


def cite(source: Source) -> dict[str, Any]:
    """A source as JSON; an outside source adds its ``url``, the page's ``date`` and when it
    was ``last_reviewed`` (each only when the knowledge gives it)."""
    out: dict[str, Any] = {"document": source.document, "section": source.section}
    if source.footnote is not None:
        out["footnote"] = source.footnote
    for key in ("url", "date", "last_reviewed"):
        value = getattr(source, key, None)
        if value is not None:
            out[key] = value
    return out


class Explainer:
    """Plain-word sentences about answers and thresholds, from the knowledge's labels."""

    def __init__(
        self,
        kb: KnowledgeBase,
        answers: Mapping[str, Answer],
        facts: Mapping[str, Any],
        params: Mapping[str, float],
        ev: Evaluation,
    ):
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
        words = {
            "at_least": ("at least", "less than"),
            "at_most": ("at most", "more than"),
            "more_than": ("more than", "at most"),
            "less_than": ("less than", "at least"),
        }
        return f"needs {words[op][1 if negated else 0]} {_fmt(want)}"

    def describe(
        self, t: Test, facts: Mapping[str, Any], params: Mapping[str, float], negated: bool
    ) -> str:
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
        return explain(
            cond, self.facts, self.params, self.ev.status, self.describe, self.describe_ref
        )

    def open_questions(self, cond: Any) -> list[str]:
        """Questions not answered, or answered "don't know", that could decide ``cond``."""
        return open_inputs(cond, self.facts, self.params, self.ev.status, self.kb.inputs_of)


def status_word(holds: bool | None) -> StatusWord:
    return "unknown" if holds is None else ("met" if holds else "not_met")


# ---------------------------------------------------------------------- assessments


def assessment_result(kb: KnowledgeBase, flow: str, ex: Explainer) -> AssessmentResult:
    summary_spec = kb.flow(flow).summary
    reqs = [
        o
        for o in kb.outcomes_of(flow, "requirements")
        if isinstance(o, Requirement)
        and (
            o.applies_when is None
            or evaluate(o.applies_when, ex.facts, ex.params, ex.ev.status) is not False
        )
    ]
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
            count = {
                w: sum(1 for r in at if rows[r.id].status == w)
                for w in ("met", "not_met", "unknown")
            }
            status: LevelStatus
            if below == "not_attained" or count["not_met"]:
                status = "not_attained"
            elif below == "unknown" or count["unknown"]:
                status = "unknown"
            else:
                status = "attained"
            below = status
            levels.append(
                LevelResult(
                    level=lv,
                    met=count["met"],
                    not_met=count["not_met"],
                    unknown=count["unknown"],
                    total=len(at),
                    percent=round_half_up(100 * count["met"] / len(at), 1) if at else 0.0,
                    attained=status == "attained",
                    status=status,
                )
            )
        level_attained = max((lv.level for lv in levels if lv.attained), default=0)
        # the highest level still reachable if every unknown answer turned out favourable
        level_possible = max((lv.level for lv in levels if lv.status != "not_attained"), default=0)
        next_level = level_attained + 1
        summary = {"level_attained": level_attained, "level_possible": level_possible}
    elif summary_spec.kind == "score":
        total = len(scored)
        unknown = sum(1 for r in scored if rows[r.id].status == "unknown")
        summary = {
            "yes": len(met),
            "total": total,
            "score": round_half_up(len(met) / total * 100, summary_spec.decimals),
            "unknown": unknown,
            # the score if every unknown question turned out to be achieved
            "score_max": round_half_up((len(met) + unknown) / total * 100, summary_spec.decimals),
        }
    else:
        summary = {"met": len(met), "total": len(scored)}

    open_reqs = [r for r in scored if rows[r.id].status != "met"]
    open_reqs.sort(key=lambda r: r.level or 0)
    gaps = [
        GapResult(
            id=r.id,
            title=r.title,
            next_step=r.next_step,
            source=cite(r.source),
            status=rows[r.id].status,
            level=r.level,
            because=rows[r.id].because,
        )
        for r in open_reqs
    ]
    first = [r for r in open_reqs if next_level is None or r.level == next_level]
    later = [r for r in open_reqs if r not in first]
    steps = []
    for r in first + later:
        row = rows[r.id]
        if row.status == "unknown":
            asks = "; ".join(kb.questions[q].text for q in row.questions) or r.next_step
            steps.append(
                NextStep(
                    id=r.id,
                    text=f"Find out and answer: {asks}",
                    because=row.because,
                    source=row.source,
                )
            )
        else:
            steps.append(
                NextStep(id=r.id, text=r.next_step, because=row.because, source=row.source)
            )
    monitoring = [rows[r.id] for r in reqs if not r.scored]
    return AssessmentResult(
        flow=flow,
        knowledge_version=kb.version,
        summary=summary,
        requirements=[rows[r.id] for r in scored],
        levels=levels,
        groups=_groups(scored, rows),
        monitoring=monitoring or None,
        gaps=gaps,
        next_steps=steps,
    )


def _groups(
    scored: list[Requirement], rows: Mapping[str, RequirementResult]
) -> list[GroupResult] | None:
    """Counts per heading, in the order the headings first occur; None without headings."""
    heads = list(dict.fromkeys(r.group for r in scored if r.group))
    if not heads:
        return None
    out = []
    for head in heads:
        words = [rows[r.id].status for r in scored if r.group == head]
        out.append(
            GroupResult(
                group=head,
                met=words.count("met"),
                not_met=words.count("not_met"),
                unknown=words.count("unknown"),
                total=len(words),
            )
        )
    return out


def _requirement_row(r: Requirement, ex: Explainer) -> RequirementResult:
    holds = ex.ev.status(r.id)
    return RequirementResult(
        id=r.id,
        title=r.title,
        level=r.level,
        group=r.group,
        status=status_word(holds),
        because=ex.because(r.when),
        questions=ex.open_questions(r.when) if holds is None else [],
        source=cite(r.source),
    )


# ---------------------------------------------------------------------- referral

RISK_BANDS = ("standard", "medium", "high")
_URGENCY_ORDER = {"immediate": 0, "today": 1, "routine": 2}
DO_NOW_STEPS = 5  # the first screen: what a worker on a phone can act on at once
JUDGEMENT_REASON = "professional_judgement_reason"  # public answer id: why the risk is judged high


def referral_result(
    kb: KnowledgeBase, flow: str, ex: Explainer, area: str | None = None, remaining: int = 0
) -> ReferralResult:
    """The referral result; ``remaining`` is how many questions could still change it
    (0: complete, otherwise provisional)."""
    spec = kb.flow(flow).summary
    holding = [o for o in kb.outcomes_of(flow) if ex.ev.status(o.id) is True]
    criteria = [o for o in holding if isinstance(o, Criterion)]
    bands = [c.risk_level for c in criteria if c.risk_level]
    level = max(bands, key=RISK_BANDS.index) if bands else "unknown"
    because: list[str] = []
    for c in criteria:
        because += [f"{c.title}: {line}" for line in ex.because(c.when)]
    reason_id, reason = _judgement_reason(kb, ex)
    if reason is not None:
        because.append(f"{_upper_first(ex.label(JUDGEMENT_REASON))}: {reason}")
    score = ex.facts.get(spec.score_value) if spec.score_value else None
    notice = None
    if spec.notice:
        d = kb.definitions[spec.notice]
        notice = Notice(id=d.id, text=d.text, source=cite(d.source))
    marac = [c for c in criteria if c.marac]
    risk = Risk(
        level=level,
        dash_yes_count=score,
        marac_criteria=[_short_id(c) for c in marac],
        marac_criteria_met=[
            MaracCriterionResult(
                id=_short_id(c), title=c.title, because=ex.because(c.when), source=cite(c.source)
            )
            for c in marac
        ],
        judgement_reason=reason,
        judgement_reason_id=reason_id,
        because=because,
        notice=notice,
    )

    pathways = sorted(
        (o for o in holding if isinstance(o, Pathway)),
        key=lambda p: (_URGENCY_ORDER[_urgency(p, ex.ev)], p.order),
    )
    referrals = []
    for p in pathways:
        contacts = _contacts(kb, p, area)
        find_local = getattr(p, "find_local", None)
        referrals.append(
            ReferralItem(
                id=_short_id(p),
                title=p.title,
                why=ex.because(p.when),
                urgency=_urgency(p, ex.ev),
                contacts=contacts,
                consent=p.consent,
                find_local=None if any(c.local for c in contacts) else find_local,
                source=cite(p.source),
            )
        )
    consent = _shared_consent(general_consent(kb, flow), referrals, spec.consent_source)
    held_actions = sorted((o for o in holding if isinstance(o, Action)), key=lambda a: a.order)
    actions = [
        ActionResult(id=a.id, title=a.title, because=ex.because(a.when), source=cite(a.source))
        for a in held_actions
    ]
    gaps = [
        GapResult(
            id=g.id,
            title=g.title,
            next_step=g.next_step,
            because=ex.because(g.when),
            source=cite(g.source),
        )
        for g in holding
        if isinstance(g, Gap)
    ]
    warnings = [
        WarningResult(
            id=w.id, title=w.title, because=w.because, why=ex.because(w.when), source=cite(w.source)
        )
        for w in holding
        if isinstance(w, Warning)
    ]
    return ReferralResult(
        knowledge_version=kb.version,
        do_now=_do_now(kb, pathways, referrals, risk, ex),
        consent=consent,
        complete=remaining == 0,
        questions_remaining=remaining,
        risk=risk,
        referrals=referrals,
        actions=actions,
        gaps=gaps,
        warnings=warnings,
    )


def _short_id(item: Criterion | Pathway) -> str:
    """The public id in results: ``pathway.marac`` -> ``marac``."""
    return (
        item.id.rsplit(".", 1)[-1]
        if isinstance(item, Criterion)
        else item.id.removeprefix("pathway.")
    )


def _judgement_reason(kb: KnowledgeBase, ex: Explainer) -> tuple[str | None, str | None]:
    """The reason the worker chose for judging the risk high, as (choice id, label)."""
    value = ex.facts.get(JUDGEMENT_REASON)
    if JUDGEMENT_REASON not in kb.questions or not isinstance(value, str):
        return None, None
    return value, ex.show(JUDGEMENT_REASON, value)


def general_consent(kb: KnowledgeBase, flow: str) -> str | None:
    """The flow's general consent rule: the consent text most of its pathways share."""
    texts = [
        p.consent for p in kb.outcomes_of(flow, "pathways") if isinstance(p, Pathway) and p.consent
    ]
    if not texts:
        return None
    best = max(dict.fromkeys(texts), key=texts.count)  # ties: the earliest pathway's
    return best if texts.count(best) > 1 else None


def _shared_consent(
    general: str | None, referrals: list[ReferralItem], source: Source | None
) -> ConsentRule | None:
    """State the general consent rule once; the referrals it covers drop their copy and keep
    a flag. A referral with a rule of its own keeps its own text. The rule is cited to the
    flow's ``consent_source`` (else to the first referral it covers)."""
    covered = [r for r in referrals if general is not None and r.consent == general]
    if not covered or general is None:
        return None
    for r in covered:
        r.consent, r.consent_shared = None, True
    return ConsentRule(
        text=general,
        applies_to=[r.id for r in covered],
        source=cite(source) if source is not None else covered[0].source,
    )


def _do_now(
    kb: KnowledgeBase,
    pathways: list[Pathway],
    referrals: list[ReferralItem],
    risk: Risk,
    ex: Explainer,
) -> list[DoNowStep]:
    """At most DO_NOW_STEPS steps: the most urgent referral (999 when it applies), then the
    other immediate and same-day referrals in the order to act; the first routine referrals
    when nothing is urgent. Referrals sharing a condition and an urgency (MARAC and
    IDVA) are one step."""
    rows = list(zip(pathways, referrals))
    urgent = [(p, r) for p, r in rows if r.urgency != "routine"]
    steps: list[tuple[list[Pathway], list[ReferralItem]]] = []
    for p, r in urgent or rows:
        joined = next(
            (s for s in steps if s[0][0].when == p.when and s[1][0].urgency == r.urgency), None
        )
        if joined is not None:
            joined[0].append(p)
            joined[1].append(r)
        else:
            steps.append(([p], [r]))
    return [_referral_step(kb, ps, rs, risk, ex) for ps, rs in steps][:DO_NOW_STEPS]


def _referral_step(
    kb: KnowledgeBase, ps: list[Pathway], rs: list[ReferralItem], risk: Risk, ex: Explainer
) -> DoNowStep:
    """One step made of one referral, or of several that go together."""
    texts = [getattr(p, "do_now", None) or p.title for p in ps]
    text = texts[0] + "".join(f" and {_lower_first(t)}" for t in texts[1:])
    if any(_refers_to_marac(kb, p) for p in ps) and risk.marac_criteria_met:
        text += ". Criteria met: " + "; ".join(c.title for c in risk.marac_criteria_met)
        if risk.judgement_reason:
            text += f". {_upper_first(ex.label(JUDGEMENT_REASON))}: {risk.judgement_reason}"
    contacts: list[ContactResult] = []
    for r in rs:
        contacts += [c for c in r.contacts if all(c.id != k.id for k in contacts)]
    find_local = " ".join(dict.fromkeys(r.find_local for r in rs if r.find_local)) or None
    return DoNowStep(
        text=text,
        referral=rs[0].id,
        also=[r.id for r in rs[1:]],
        urgency=rs[0].urgency,
        contacts=contacts,
        find_local=find_local,
        because=list(dict.fromkeys(line for r in rs for line in r.why)),
        source=rs[0].source,
    )


def _refers_to_marac(kb: KnowledgeBase, p: Pathway) -> bool:
    """Whether a pathway follows from the MARAC criteria (its step names them)."""
    for leaf in leaves(p.when):
        target = kb.outcomes.get(leaf.item) if isinstance(leaf, ItemRef) else None
        if isinstance(target, Criterion) and target.marac:
            return True
    return False


def _lower_first(text: str) -> str:
    """ "Refer to an IDVA" -> "refer to an IDVA" (an acronym such as "MARAC ..." is kept)."""
    return text[0].lower() + text[1:] if text[:2].istitle() else text


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _urgency(p: Pathway, ev: Evaluation) -> Literal["immediate", "today", "routine"]:
    for i, rule in enumerate(p.urgency_rules):
        if ev.status(urgency_key(p.id, i)) is True:
            return rule.urgency
    return p.urgency


def contact_result(kb: KnowledgeBase, contact_id: str) -> ContactResult | None:
    """A knowledge contact as results carry it (phone, how it serves, source, review date)."""
    c = kb.contacts.get(contact_id)
    if c is None:
        return None
    return ContactResult(
        id=c.id,
        name=c.name,
        serves=c.serves,
        phone=c.phone,
        url=c.url,
        source=cite(c.source),
        last_reviewed=c.last_reviewed,
        source_statement=c.source_statement,
    )


def _contacts(kb: KnowledgeBase, p: Pathway, area: str | None) -> list[ContactResult]:
    out = [c for c in (contact_result(kb, cid) for cid in p.contacts) if c is not None]
    if area is not None and p.services:
        for s in kb.directory(area).services:
            if set(s.services) & set(p.services):
                out.append(
                    ContactResult(
                        id=s.id,
                        name=s.name,
                        serves=s.serves,
                        phone=s.contact.phone if s.contact else None,
                        url=s.contact.url if s.contact else None,
                        local=True,
                        source=cite(s.source),
                    )
                )
    return out
