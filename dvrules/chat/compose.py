"""The composer: every message any channel shows, built once from questions and results.

Messages are paragraphs of styled spans and rows of buttons (``dvrules.chat.messages``); a
channel only turns them into its markup. Results are laid out here and nowhere else: as pages
for chat (``result_view``) and whole for the terminal and reports (``full_result``).

Case details stay out of chat history: results name steps and referrals, never the answers
behind them; only ``why`` and ``answers`` echo answers (both marked ``protect``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dvrules.api import QuestionView
from dvrules.chat.citation import Citation
from dvrules.chat.commands import help_lines
from dvrules.chat.messages import (
    EMERGENCY,
    PRIVACY,
    Button,
    Message,
    Paragraph,
    Span,
    b,
    i,
    par,
    plain_text,
    short_label,
)
from dvrules.knowledge import KnowledgeBase
from dvrules.results import AssessmentResult, ContactResult, ReferralResult, Result, cite

FIRST_PAGE_LIMIT = 1500  # characters of the first result message (the rest behind buttons)
FOOTER = (
    "Tap Why and a number, or type why and a number (for example why 1), for the reasons "
    "and source. " + EMERGENCY
)
DO_NOW_STEPS = 5
STATUS_WORDS = {"met": "met", "not_met": "not met", "unknown": "not known yet"}
URGENCY_WORDS = {"immediate": "immediately", "today": "today", "routine": "routine"}
# Silent Solution: shared/notes/current-practice.md (helplines table, Silent Solution row), the
# first public page it lists. The knowledge's fact-sheet document names it when it has one.
EMERGENCY_CONTACT = "contact.emergency_999"  # its `serves` says how to call when you cannot speak


@dataclass
class ResultItem:
    """One numbered item of a result, with what ``why N`` shows about it."""

    number: int
    id: str
    title: str
    page: str
    status: str | None
    because: list[str]
    source: dict[str, Any]
    extra: list[str] = field(default_factory=list)


@dataclass
class ResultView:
    """A result as pages: the first (headline and what to do first) and the rest by name."""

    flow: str
    items: list[ResultItem]
    pages: dict[str, list[Paragraph]]  # page name -> paragraphs, in showing order
    headline: list[Paragraph]
    preview: set[str] = field(default_factory=set)  # pages that only preview others (chat only)
    hints: list[Paragraph] = field(default_factory=list)  # under the first page in chat only

    @property
    def names(self) -> list[str]:
        return list(self.pages)


class Composer:
    """Builds messages for one knowledge base."""

    def __init__(self, kb: KnowledgeBase, buttons: bool = True):
        self.kb = kb
        self.buttons = buttons  # False in the terminal: hints say what to type, not what to tap

    # -------------------------------------------------------------- small pieces

    def citation(self, source: Mapping[str, Any]) -> Citation:
        return Citation.of(self.kb, source)

    def source_line(self, source: Mapping[str, Any]) -> str:
        return self.citation(source).line()

    def flow_title(self, flow: str) -> str:
        return self.kb.flow(flow).title

    # -------------------------------------------------------------- menus and help

    def start(
        self,
        flows: Sequence[str],
        current: str | None,
        payload: Callable[[str], str],
        note: str | None = None,
    ) -> Message:
        paragraphs = [par(note)] if note else []
        paragraphs += [
            par(
                b("dvrules"),
                " helps you work through UK domestic violence standards and "
                "referral routes. Every point it gives names its source.",
            ),
            par(b(EMERGENCY)),
            par(PRIVACY),
        ]
        if current:
            paragraphs.append(
                par(
                    "You have an assessment in progress: ",
                    b(self.flow_title(current)),
                    ". Choose it below to carry on where you left off.",
                )
            )
        paragraphs.append(par("Choose what to work on, or type help."))
        buttons = [[Button(short_label(self.flow_title(f)), payload(f))] for f in flows]
        return Message(paragraphs, buttons, kind="menu")

    def home(
        self,
        flows: Sequence[str],
        current: str | None,
        progress: Mapping[str, Any] | None,
        payload: Callable[[str], str],
    ) -> Message:
        """Start, resume, the last result and forget in one place (Slack's App Home)."""
        paragraphs = [par(b(EMERGENCY)), par(PRIVACY)]
        buttons: list[list[Button]] = []
        if current and progress is not None:
            paragraphs.append(
                par(
                    b(self.flow_title(current)),
                    "\n",
                    f"{progress['answered']} question(s) answered, up to "
                    f"{progress['remaining']} still to answer.",
                )
            )
            buttons.append(
                [Button("Carry on", payload(current)), Button("Result so far", "h|result")]
            )
        else:
            paragraphs.append(par("Nothing in progress. Choose what to work on."))
        buttons += [
            [Button(short_label(self.flow_title(f)), payload(f))] for f in flows if f != current
        ]
        buttons.append([Button("Erase everything", "h|forget")])
        paragraphs.append(par(i("Erase everything removes every answer stored for you, now.")))
        return Message(paragraphs, buttons, kind="home")

    def help(self) -> Message:
        return Message(
            [
                par(b(EMERGENCY)),
                par(b("Commands"), " (type them, with or without /):\n" + "\n".join(help_lines())),
                par(
                    "Answer a question with its buttons, or type the answer: yes, no, a number "
                    "(13% is fine), an option's number or words, several numbers like 1 3 4, or "
                    "don't know."
                ),
                par(PRIVACY),
            ]
        )

    def info(self, *texts: str, buttons: list[list[Button]] | None = None) -> Message:
        return Message([par(t) for t in texts], buttons or [])

    # -------------------------------------------------------------- safety first

    def danger(self) -> Message:
        """The standalone message an answer of "yes" to immediate danger gets at once; how to
        call when you cannot speak (the Silent Solution) comes from the knowledge's 999 contact."""
        paragraphs = [
            par(b("Call 999 now.")),
            par("Someone is in immediate danger: the rest of these questions can wait."),
        ]
        contact = self.kb.contacts.get(EMERGENCY_CONTACT)
        if contact is not None:
            paragraphs += [par(contact.serves), par(i(self.source_line(cite(contact.source))))]
        return Message(paragraphs, kind="danger")

    # -------------------------------------------------------------- the question card

    def card(
        self,
        q: QuestionView,
        *,
        buttons: list[list[Button]],
        selected: Sequence[str] = (),
        more: bool = False,
        note: str | None = None,
        previous: str | None = None,
        applies: Sequence[str] = (),
    ) -> Message:
        """A question card: short by default; help, definition and source behind More."""
        paragraphs: list[Paragraph] = []
        if note:
            paragraphs.append(par(note))
        head: list[Span | str] = []
        if q.progress is not None:
            left = q.progress.remaining - 1
            head.append(
                i(
                    f"Question {q.progress.answered + 1}"
                    + (
                        f" (up to {left} more after this)\n"
                        if left > 0
                        else " (the last one needed)\n"
                    )
                )
            )
        head.append(b(q.text))
        paragraphs.append(par(*head))
        if q.type in ("choice", "multi_choice"):
            lines = []
            for n, c in enumerate(q.choices, 1):
                mark = ""
                if q.type == "multi_choice":
                    mark = "[x] " if c.id in selected else "[ ] "
                lines.append(f"{mark}{n}. {c.label}")
            paragraphs.append(par("\n".join(lines)))
            if self.buttons:
                hint = (
                    "Tap an option, or type its number."
                    if q.type == "choice"
                    else "Tap each option that applies, then Done. Or type their numbers, like "
                    "1 3 4, or none."
                )
            else:
                hint = (
                    "Type the option's number or words."
                    if q.type == "choice"
                    else "Type the numbers of every option that applies, like 1 3 4, or none."
                )
        else:
            unit = f" ({q.unit})" if q.unit else ""
            hint = f"Answer: {q.allowed}{unit}, or don't know."
        paragraphs.append(par(i(hint)))
        if previous is not None:
            paragraphs.append(
                par(
                    i(
                        f"Looking again at an earlier answer: {previous}. It is kept "
                        "unless you change it."
                    )
                )
            )
        if applies:
            shown = "; ".join(applies[:3]) + (
                f"; and {len(applies) - 3} more" if len(applies) > 3 else ""
            )
            paragraphs.append(par(b("Already applies: "), shown, ". Type result to see it."))
        if more:
            if q.help:
                paragraphs.append(par(q.help))
            if q.definition:
                paragraphs.append(par(b(q.definition.title + ": "), q.definition.text))
            paragraphs.append(par(i(self.source_line(q.source))))
        paragraphs.append(par(b(EMERGENCY)))
        return Message(paragraphs, buttons, kind="card")

    def finished_card(
        self, note: str = "That's all the questions I need.", report: bool = False
    ) -> Message:
        """The card once the questions end; a self-assessment's also offers the report file."""
        paragraphs = [par(b(note)), par("The result is below. " + EMERGENCY)]
        if report:
            how = (
                "tap Report under the result, or type report"
                if self.buttons
                else "type report to write it to a file"
            )
            paragraphs.insert(
                1,
                par(
                    f"For your board: {how}, for the full report (PDF, or a "
                    "web page where a PDF cannot be made)."
                ),
            )
        return Message(paragraphs, kind="card")

    def why_question(self, q: QuestionView) -> Message:
        paragraphs = [par(b(q.text)), par("Asked because its answer can still change the result.")]
        if q.help:
            paragraphs.append(par(q.help))
        if q.definition:
            paragraphs.append(par(b(q.definition.title + ": "), q.definition.text))
        paragraphs.append(par(i(self.source_line(q.source))))
        return Message(paragraphs)

    # -------------------------------------------------------------- progress and answers

    def progress(self, progress: Mapping[str, Any]) -> Message:
        flow = progress["flow"]
        text = (
            f"{progress['answered']} question(s) answered"
            f" ({progress['dont_know']} don't know), "
            f"up to {progress['remaining']} still to answer."
        )
        paragraphs = [par(b(self.flow_title(flow))), par(text)]
        if progress["prefilled"]:
            paragraphs.append(
                par(
                    f"{len(progress['prefilled'])} answer(s) were taken from "
                    "another finished assessment in this chat."
                )
            )
        paragraphs.append(
            par(
                "Type result for the result so far, answers to list them, or "
                "back to look at the last one again."
            )
        )
        return Message(paragraphs)

    def show_answer(self, qid: str, value: Any) -> str:
        q = self.kb.questions[qid]
        if value is None:
            return "don't know"
        if isinstance(value, bool):
            return "yes" if value else "no"
        labels = (
            {c.id: c.label for c in self.kb.choices(q)}
            if q.type in ("choice", "multi_choice")
            else {}
        )
        if isinstance(value, list):
            return ", ".join(labels.get(v, str(v)) for v in value) if value else "none of these"
        if isinstance(value, str):
            return labels.get(value, value)
        text = f"{value:g}" if isinstance(value, float) else str(value)
        return f"{text} {q.unit}" if q.unit else text

    def answers(self, flow: str, answered: Sequence[str], values: Mapping[str, Any]) -> Message:
        """What was answered, numbered for ``change N`` (shown on request only)."""
        if not answered:
            return Message([par("Nothing answered yet in " + self.flow_title(flow) + ".")])
        lines = []
        for n, qid in enumerate(answered, 1):
            q = self.kb.questions[qid]
            lines.append(f"{n}. {q.short or q.text}: {self.show_answer(qid, values.get(qid))}")
        return Message(
            [
                par(b(f"Your answers: {self.flow_title(flow)}")),
                par("\n".join(lines)),
                par(i("Type change and a number (for example change 2) to change one.")),
            ],
            kind="answers",
            protect=True,
        )

    # -------------------------------------------------------------- results

    def result_view(self, result: Result, *, complete: bool) -> ResultView:
        if isinstance(result, ReferralResult):
            return self._referral_view(result, complete)
        return self._assessment_view(result, complete)

    def applies_now(self, result: Result) -> list[str]:
        """Referrals and first steps that already apply (shown on the card as they appear)."""
        if not isinstance(result, ReferralResult):
            return []
        return self._do_now(result)

    def result_page(
        self, view: ResultView, page: str, buttons: list[list[Button]], *, first: bool
    ) -> Message:
        body = list(view.headline) if first else []
        body += view.pages[page]
        if first:
            body += view.hints
        body.append(par(i(FOOTER)))
        return Message(body, buttons, kind="result", protect=True)

    def why(self, item: ResultItem) -> Message:
        """Why one item is as it is: the only message that echoes answers (protected)."""
        status = f" ({item.status})" if item.status else ""
        paragraphs = [par(b(f"{item.number}. {item.title}"), status)]
        for line in item.extra:
            paragraphs.append(par(line))
        if item.because:
            paragraphs.append(par(b("Because\n"), "\n".join(f"- {x}" for x in item.because)))
        paragraphs.append(par(i(self.source_line(item.source))))
        return Message(paragraphs, kind="why", protect=True)

    def full_result(self, result: Result, *, complete: bool = True) -> list[Paragraph]:
        """The whole result, every page in order (terminal and reports)."""
        view = self.result_view(result, complete=complete)
        out = list(view.headline)
        for name, paragraphs in view.pages.items():
            if name not in view.preview:
                out += paragraphs
        out.append(par(i(f"Knowledge version {result.knowledge_version}.")))
        return out

    # ---------------------------------------------------------- assessment results

    def _assessment_view(self, result: AssessmentResult, complete: bool) -> ResultView:
        items: list[ResultItem] = []
        gaps = {g.id: g for g in result.gaps}

        def add(
            page: str,
            id: str,
            title: str,
            status: str | None,
            because: list[str],
            source: dict[str, Any],
            extra: list[str] | None = None,
        ) -> ResultItem:
            it = ResultItem(len(items) + 1, id, title, page, status, because, source, extra or [])
            items.append(it)
            return it

        headline = [
            par(b(f"Result: {self.flow_title(result.flow)}")),
            self._assessment_headline(result),
        ]
        if result.groups:  # e.g. a strategy's aims: how each stands
            headline.append(
                par(
                    "\n".join(
                        f"{g.group}: {g.met} of {g.total} met"
                        + (f", {g.unknown} not known yet" if g.unknown else "")
                        for g in result.groups
                    )
                )
            )
        if not complete:
            headline.append(
                par(
                    i(
                        "Some questions are not answered yet, so items they decide "
                        "show as not known yet."
                    )
                )
            )
        pages: dict[str, list[Paragraph]] = {}
        gap_pars: list[Paragraph] = []
        for step in result.next_steps:
            g = gaps.get(step.id)
            status = STATUS_WORDS.get(g.status or "") if g else None
            it = add(
                "Gaps",
                step.id,
                g.title if g else step.id,
                status,
                step.because,
                step.source,
                [step.text],
            )
            notes = [f"level {g.level}"] if g and g.level else []
            notes += [status] if status else []
            gap_pars.append(
                par(
                    b(f"{it.number}. {it.title}"),
                    f" ({', '.join(notes)})\n" if notes else "\n",
                    f"Next: {step.text}\n",
                    i(self.source_line(step.source)),
                )
            )
        summary: list[Paragraph] = []
        if result.next_steps:
            summary.append(par(b(f"Gaps and next steps ({len(result.next_steps)})")))
        pages["Summary"] = summary
        if gap_pars:
            pages["Gaps"] = [par(b(f"Gaps and next steps ({len(gap_pars)})"))] + gap_pars
        shown = {s.id for s in result.next_steps} | {m.id for m in result.monitoring or []}
        met = [r for r in result.requirements if r.status == "met" and r.id not in shown]
        if met:
            lines = [
                f"{add('Met', r.id, r.title, 'met', r.because, r.source).number}. {r.title}"
                for r in met
            ]
            pages["Met"] = [par(b(f"Met ({len(met)})\n"), "\n".join(lines))]
        if result.monitoring:
            mon = []
            for m in result.monitoring:
                it = add(
                    "Also recorded", m.id, m.title, STATUS_WORDS[m.status], m.because, m.source
                )
                mon.append(
                    par(f"{it.number}. {it.title} ({it.status})\n", i(self.source_line(m.source)))
                )
            pages["Also recorded"] = [par(b("Also recorded (not scored)"))] + mon
        # the first page lists the gaps' titles, as many as fit
        gap_items = [it for it in items if it.page == "Gaps"]
        if gap_items:
            # as many gap titles as keep the first message under the limit, with room for
            # the headline, the footer and a channel's markup
            budget = FIRST_PAGE_LIMIT - len(plain_text(headline)) - len(FOOTER) - 250
            lines = _fit_lines([f"{it.number}. {it.title}" for it in gap_items], budget)
            summary.append(par("\n".join(lines)))
        elif not summary:
            summary.append(par("No gaps: every requirement known is met."))
        return ResultView(result.flow, items, pages, headline, preview={"Summary"})

    @staticmethod
    def _assessment_headline(result: AssessmentResult) -> Paragraph:
        """The figure first, then what unknown answers could still change."""
        s = result.summary
        if result.levels is not None:
            head = f"Level attained: {s['level_attained']} of {len(result.levels)}"
            possible = s.get("level_possible")
            if possible is not None and possible != s["level_attained"]:
                head += f" (could be up to {possible})"
            lines = []
            for lv in result.levels:
                word = {
                    "attained": "attained",
                    "not_attained": "not attained",
                    "unknown": f"not known yet ({lv.unknown} unknown)"
                    if lv.unknown
                    else "not known yet",
                }[lv.status]
                lines.append(
                    f"Level {lv.level}: {lv.met} of {lv.total} met ({lv.percent:g}%), {word}"
                )
            return par(b(head), "\n" + "\n".join(lines))
        if "score" in s:
            extra = ""
            if s.get("score_max") is not None and s.get("unknown"):
                extra = f"; could be up to {s['score_max']:g}%: {s['unknown']} not known yet"
            return par(b(f"Score: {s['score']:g}%"), f" ({s['yes']} of {s['total']} met{extra})")
        return par(b(f"{s['met']} of {s['total']} met"))

    # ------------------------------------------------------------ referral results

    @staticmethod
    def _do_now(result: ReferralResult, numbered: bool = False) -> list[str]:
        """The result's first steps (999 first when it applies), each with its contact; with
        ``numbered``, each names the result item (a referral) whose reasons and source why N
        shows, as the referrals are items 1, 2, ... of the result."""
        number = {r.id: n for n, r in enumerate(result.referrals, 1)}
        out = []
        for step in result.do_now[:DO_NOW_STEPS]:
            contact = _contact_text(step.contacts)
            text = f"{step.text} ({contact})" if contact else step.text
            if numbered and step.referral in number:
                text += f" [item {number[step.referral]}]"
            out.append(text)
        return out

    @staticmethod
    def _more_today(result: ReferralResult) -> int:
        """Same-day referrals the first steps leave out (they are on the Referrals page)."""
        covered = {x for s in result.do_now for x in [s.referral, *s.also] if x}
        return sum(1 for r in result.referrals if r.urgency == "today" and r.id not in covered)

    def _referral_view(self, result: ReferralResult, complete: bool) -> ResultView:
        items: list[ResultItem] = []

        def add(
            page: str,
            id: str,
            title: str,
            because: list[str],
            source: dict[str, Any],
            extra: list[str] | None = None,
        ) -> ResultItem:
            it = ResultItem(len(items) + 1, id, title, page, None, because, source, extra or [])
            items.append(it)
            return it

        complete = result.complete
        risk = result.risk
        head: list[Span | str] = [b(f"Risk level: {risk.level}")]
        if risk.judgement_reason:
            head.append(f"\nYour professional judgement: {risk.judgement_reason}")
        titles = [m.title for m in risk.marac_criteria_met]
        if titles:
            head.append("\nMARAC referral criteria met: " + "; ".join(titles))
        headline = [par(b("Result: referral routes")), par(*head)]
        if not complete:
            left = result.questions_remaining
            more = f" ({left} question(s) could still change it)" if left else ""
            headline.append(
                par(
                    i(
                        f"Provisional: some questions are not answered yet, so this "
                        f"may change{more}."
                    )
                )
            )
        pages: dict[str, list[Paragraph]] = {}
        do_now = self._do_now(result, numbered=True)
        first: list[Paragraph] = []
        if do_now:
            lines = [f"{n}. {t}" for n, t in enumerate(do_now, 1)]
            extra = self._more_today(result)
            if extra:
                lines.append(f"{extra} more to make today: see Referrals.")
            first.append(par(b("Do now\n"), "\n".join(lines)))
        else:
            first.append(par("Nothing to do at once from the answers so far."))
        pages["Do now"] = first
        shared = result.consent
        if result.referrals:
            refs = [par(b(f"Referrals ({len(result.referrals)})"))]
            if shared is not None:
                refs.append(
                    par(b("Consent: "), shared.text, "\n", i(self.source_line(shared.source)))
                )
            for p in result.referrals:
                lines = [f"Urgency: {URGENCY_WORDS[p.urgency]}"]
                for c in p.contacts:
                    phone = f": {c.phone}" if c.phone else ""
                    lines.append(
                        f"Contact: {c.name}{phone} ({c.serves})" + (f" {c.url}" if c.url else "")
                    )
                if p.find_local:
                    lines.append(f"Find the local service: {p.find_local}")
                if p.consent:  # a rule specific to this referral (the shared one is above)
                    lines.append(f"Consent: {p.consent}")
                it = add("Referrals", p.id, p.title, p.why, p.source, lines)
                refs.append(
                    par(
                        b(f"{it.number}. {p.title}\n"),
                        "\n".join(lines) + "\n",
                        i(self.source_line(p.source)),
                    )
                )
            pages["Referrals"] = refs
        if result.actions:
            acts = [par(b(f"Steps ({len(result.actions)})"))]
            for a in result.actions:
                it = add("Steps", a.id, a.title, a.because, a.source)
                acts.append(par(b(f"{it.number}. {a.title}\n"), i(self.source_line(a.source))))
            pages["Steps"] = acts
        if result.warnings:
            warns = [par(b(f"Warnings ({len(result.warnings)})"))]
            for w in result.warnings:
                it = add("Warnings", w.id, w.title, w.why, w.source, [w.because])
                warns.append(
                    par(
                        b(f"{it.number}. {w.title}\n"),
                        f"{w.because}\n",
                        i(self.source_line(w.source)),
                    )
                )
            pages["Warnings"] = warns
        if result.gaps:
            gps = [par(b(f"Gaps ({len(result.gaps)})"))]
            for g in result.gaps:
                it = add("Gaps", g.id, g.title, g.because, g.source, [g.next_step])
                gps.append(
                    par(
                        b(f"{it.number}. {g.title}\n"),
                        f"Next: {g.next_step}\n",
                        i(self.source_line(g.source)),
                    )
                )
            pages["Gaps"] = gps
        if risk.notice:
            note = par(
                b("About the risk level\n"),
                risk.notice.text + "\n",
                i(self.source_line(risk.notice.source)),
            )
            trial = headline + first + [note]
            if len(plain_text(trial)) + len(FOOTER) + 250 <= FIRST_PAGE_LIMIT:
                first.append(note)
            else:  # the first message stays short: the note gets its own page
                pages["About risk"] = [note]
        counts = [
            f"{name}: {sum(1 for it in items if it.page == name)}"
            for name in pages
            if name not in ("Do now", "About risk")
        ]
        hints = [par(i("More behind the buttons: " + ", ".join(counts) + "."))] if counts else []
        return ResultView("referral", items, pages, headline, hints=hints)


def _contact_text(contacts: list[ContactResult]) -> str | None:
    """The first contact with a phone number (a local one first), as "name: phone"."""
    for c in sorted(contacts, key=lambda c: not c.local):
        if c.phone:
            return f"{c.name}: {c.phone}"
    return None


def _fit_lines(lines: list[str], limit: int) -> list[str]:
    out: list[str] = []
    size = 0
    for n, line in enumerate(lines):
        if size + len(line) + 1 > limit:
            out.append(f"... and {len(lines) - n} more on the Gaps page")
            break
        out.append(line)
        size += len(line) + 1
    return out
