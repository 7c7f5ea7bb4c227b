"""The old bots' renderers, kept only until bots/telegram.py and bots/slack.py are ported to
``dvrules.chat.Conversation`` (see /work/team/contract-core.md); delete this module then."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dvrules.api import QuestionView
from dvrules.knowledge import KnowledgeBase
from dvrules.results import AssessmentResult, ReferralResult, Result
from dvrules.chat.messages import *  # noqa: F401,F403 - the old ``bots.render`` namespace
from dvrules.chat.messages import (EMERGENCY, PRIVACY, Button, OutMessage, Paragraph, Span, b, i,
                                   pack, par, plain_text, short_label, utf16_len)

# ---------------------------------------------------------------------- pieces of text


def source_line(kb: KnowledgeBase, source: dict[str, Any]) -> str:
    """One line naming where a point comes from: document title, year, section, footnote."""
    doc = kb.documents.get(source.get("document", ""))
    name = doc.title if doc else str(source.get("document", "unknown source"))
    if doc and doc.year:
        name += f" ({doc.year})"
    text = f"Source: {name}"
    if source.get("section"):
        text += f", {source['section']}"
    if source.get("footnote") is not None:
        text += f", footnote {source['footnote']}"
    return text


def flow_title(kb: KnowledgeBase, flow: str) -> str:
    return kb.flow(flow).title


def start_message(kb: KnowledgeBase, flows: Sequence[str], current: str | None,
                  payload_for_flow: Callable[[str], str]) -> OutMessage:
    paragraphs = [
        par(b("dvrules"), " helps you work through UK domestic violence standards and "
            "referral routes. Every point it gives names its source."),
        par(b(EMERGENCY)),
        par(PRIVACY),
    ]
    if current:
        paragraphs.append(par("You have an assessment in progress: ", b(flow_title(kb, current)),
                              ". Choose it below to carry on where you left off."))
    paragraphs.append(par("Choose what to work on, or type help."))
    buttons = [[Button(short_label(flow_title(kb, f)), payload_for_flow(f))] for f in flows]
    return OutMessage(paragraphs, buttons)


def help_message(kb: KnowledgeBase, flows: Sequence[str]) -> OutMessage:
    return OutMessage([
        par(b(EMERGENCY)),
        par(b("Commands"), " (type them, with or without /):\n"
            "start: choose an assessment, or carry on with one\n"
            "back: go back to the previous question\n"
            "skip: answer \"don't know\" to this question\n"
            "summary: how far you have got\n"
            "result: the result so far\n"
            "why N: why item N of the result is as it is, and its source\n"
            "cancel: stop for now (your answers are kept until they expire)\n"
            "forget: erase everything this chat has stored, now\n"
            "help: this message"),
        par("Answer a question with its buttons, or type the answer: yes, no, a number, "
            "an option's number, or don't know."),
        par(PRIVACY),
    ])


def question_message(kb: KnowledgeBase, q: QuestionView, *, buttons: list[list[Button]],
                     selected: int = 0, note: str | None = None) -> OutMessage:
    """A question: where we are, the question, what is accepted, help, definition, source."""
    paragraphs: list[Paragraph] = []
    if note:
        paragraphs.append(par(note))
    head: list[Span | str] = []
    if q.progress is not None:
        head.append(i(f"Question {q.progress.answered + 1} "
                      f"(up to {q.progress.remaining - 1} more after this)\n"
                      if q.progress.remaining > 1 else
                      f"Question {q.progress.answered + 1} (the last one needed)\n"))
    head.append(b(q.text))
    paragraphs.append(par(*head))
    if q.type in ("choice", "multi_choice"):
        lines = []
        for n, c in enumerate(q.choices, 1):
            mark = ""
            if q.type == "multi_choice":
                mark = "[x] " if selected >> (n - 1) & 1 else "[ ] "
            lines.append(f"{mark}{n}. {c.label}")
        paragraphs.append(par("\n".join(lines)))
        if q.type == "choice":
            paragraphs.append(par(i("Tap an option, or type its number.")))
        else:
            paragraphs.append(par(i("Tap each option that applies, then Done. Or type their "
                                    "numbers, like 1, 3, or none.")))
    else:
        unit = f" ({q.unit})" if q.unit else ""
        paragraphs.append(par(i(f"Answer: {q.allowed}{unit}, or don't know.")))
    if q.help:
        paragraphs.append(par(q.help))
    if q.definition:
        paragraphs.append(par(b(q.definition.title + ": "), q.definition.text))
    paragraphs.append(par(i(source_line(kb, q.source))))
    return OutMessage(paragraphs, buttons)


def progress_message(kb: KnowledgeBase, progress: dict[str, Any]) -> OutMessage:
    flow = progress["flow"]
    text = (f"{progress['answered']} question(s) answered"
            f" ({progress['dont_know']} don't know), "
            f"up to {progress['remaining']} still to answer.")
    paragraphs = [par(b(flow_title(kb, flow))), par(text)]
    if progress["prefilled"]:
        paragraphs.append(par(f"{len(progress['prefilled'])} answer(s) were taken from another "
                              "finished assessment in this chat."))
    paragraphs.append(par("Type result for the result so far, or back to change the last answer."))
    return OutMessage(paragraphs)


# ---------------------------------------------------------------------- results

STATUS_WORDS = {"met": "met", "not_met": "not met", "unknown": "not known yet"}
URGENCY_WORDS = {"immediate": "immediately", "today": "today", "routine": "routine"}


@dataclass
class ResultItem:
    """One numbered item of a result, with what ``why N`` shows about it."""

    number: int
    id: str
    title: str
    status: str | None
    because: list[str]
    source: dict[str, Any]
    extra: list[str] = field(default_factory=list)


def result_items(result: Result) -> list[ResultItem]:
    """Every item a result shows, numbered in the order the result shows them."""
    items: list[ResultItem] = []

    def add(id: str, title: str, status: str | None, because: list[str],
            source: dict[str, Any], extra: list[str] | None = None) -> None:
        items.append(ResultItem(len(items) + 1, id, title, status, because, source, extra or []))

    if isinstance(result, AssessmentResult):
        gaps = {g.id: g for g in result.gaps}
        for step in result.next_steps:
            g = gaps.get(step.id)
            title = g.title if g else step.id
            status = STATUS_WORDS.get(g.status or "") if g else None
            add(step.id, title, status, step.because, step.source, [step.text])
        for r in result.requirements:
            if r.status == "met":
                add(r.id, r.title, "met", r.because, r.source)
        for r in result.monitoring or []:
            add(r.id, r.title, STATUS_WORDS[r.status], r.because, r.source)
    else:
        for w in result.warnings:
            add(w.id, w.title, None, w.why, w.source, [w.because])
        for p in result.referrals:
            extra = [f"Urgency: {URGENCY_WORDS[p.urgency]}"]
            if p.consent:
                extra.append(f"Consent: {p.consent}")
            add(p.id, p.title, None, p.why, p.source, extra)
        for a in result.actions:
            add(a.id, a.title, None, a.because, a.source)
        for g in result.gaps:
            add(g.id, g.title, None, g.because, g.source, [g.next_step])
    return items


def result_message(kb: KnowledgeBase, result: Result, *, complete: bool) -> OutMessage:
    """A result readable on a phone: headline first, then gaps and next steps, each cited."""
    items = result_items(result)
    by_id = {it.id: it for it in items}
    out: list[Paragraph] = []
    if isinstance(result, AssessmentResult):
        out.append(par(b(f"Result: {flow_title(kb, result.flow)}")))
        out.append(_assessment_headline(result))
        if not complete:
            out.append(par(i("Some questions are not answered yet, so items they decide show "
                             "as not known yet.")))
        if result.next_steps:
            levels = {g.id: g.level for g in result.gaps}
            out.append(par(b(f"Gaps and next steps ({len(result.next_steps)})")))
            for step in result.next_steps:
                it = by_id[step.id]
                notes = [f"level {levels[step.id]}"] if levels.get(step.id) else []
                notes += [it.status] if it.status else []
                out.append(par(b(f"{it.number}. {it.title}"),
                               f" ({', '.join(notes)})\n" if notes else "\n",
                               f"Next: {step.text}\n", i(source_line(kb, step.source))))
        met = [it for it in items if it.status == "met" and it.id not in
               {s.id for s in result.next_steps} and it.id not in
               {m.id for m in result.monitoring or []}]
        if met:
            out.append(par(b(f"Met ({len(met)})")))
            out.append(par("\n".join(f"{it.number}. {it.title}" for it in met)))
        if result.monitoring:
            out.append(par(b("Also recorded (not scored)")))
            for m in result.monitoring:
                it = by_id[m.id]
                out.append(par(f"{it.number}. {it.title} ({it.status})\n",
                               i(source_line(kb, m.source))))
    else:
        out += _referral_paragraphs(kb, result, by_id, complete)
    out.append(par(i("Type why and an item's number (for example why 1) to see why, or help. "
                     + EMERGENCY)))
    return OutMessage(out)


def _assessment_headline(result: AssessmentResult) -> Paragraph:
    s = result.summary
    if result.levels is not None:
        lines = [f"Level attained: {s['level_attained']} of {len(result.levels)}"]
        for lv in result.levels:
            lines.append(f"Level {lv.level}: {lv.met} of {lv.total} met ({lv.percent:g}%)")
        return par(b(lines[0]), "\n" + "\n".join(lines[1:]))
    if "score" in s:
        return par(b(f"Score: {s['score']:g}%"), f" ({s['yes']} of {s['total']} met)")
    return par(b(f"{s['met']} of {s['total']} met"))


def _referral_paragraphs(kb: KnowledgeBase, result: ReferralResult,
                         by_id: dict[str, ResultItem], complete: bool) -> list[Paragraph]:
    out: list[Paragraph] = [par(b("Result: referral routes"))]
    risk = result.risk
    head: list[Span | str] = [b(f"Risk level: {risk.level}")]
    if risk.dash_yes_count is not None:
        head.append(f"\nDash checklist: {risk.dash_yes_count} yes")
    if risk.marac_criteria:
        head.append("\nMARAC criteria met: " + ", ".join(risk.marac_criteria))
    out.append(par(*head))
    if risk.notice:
        out.append(par(risk.notice.text + "\n", i(source_line(kb, risk.notice.source))))
    if result.actions:
        first = result.actions[:3]
        out.append(par(b("First actions\n"),
                       "\n".join(f"{by_id[a.id].number}. {a.title}" for a in first)))
    if not complete:
        out.append(par(i("Some questions are not answered yet, so this may change.")))
    for w in result.warnings:
        it = by_id[w.id]
        out.append(par(b(f"{it.number}. Warning: {w.title}\n"), f"{w.because}\n",
                       i(source_line(kb, w.source))))
    if result.referrals:
        out.append(par(b(f"Referrals ({len(result.referrals)})")))
        for p in result.referrals:
            it = by_id[p.id]
            lines = [f"Urgency: {URGENCY_WORDS[p.urgency]}"]
            for c in p.contacts:
                phone = f": {c.phone}" if c.phone else ""
                lines.append(f"Contact: {c.name}{phone} ({c.serves})")
            if p.consent:
                lines.append(f"Consent: {p.consent}")
            out.append(par(b(f"{it.number}. {p.title}\n"), "\n".join(lines) + "\n",
                           i(source_line(kb, p.source))))
    if result.actions:
        out.append(par(b(f"Actions ({len(result.actions)})")))
        for a in result.actions:
            out.append(par(b(f"{by_id[a.id].number}. {a.title}\n"), i(source_line(kb, a.source))))
    if result.gaps:
        out.append(par(b(f"Gaps ({len(result.gaps)})")))
        for g in result.gaps:
            out.append(par(b(f"{by_id[g.id].number}. {g.title}\n"), f"Next: {g.next_step}\n",
                           i(source_line(kb, g.source))))
    return out


def why_message(kb: KnowledgeBase, item: ResultItem) -> OutMessage:
    status = f" ({item.status})" if item.status else ""
    paragraphs = [par(b(f"{item.number}. {item.title}"), status)]
    for line in item.extra:
        paragraphs.append(par(line))
    if item.because:
        paragraphs.append(par(b("Because\n"), "\n".join(f"- {x}" for x in item.because)))
    paragraphs.append(par(i(source_line(kb, item.source))))
    return OutMessage(paragraphs)
