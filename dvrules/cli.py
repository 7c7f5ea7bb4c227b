"""The ``dvrules`` command: guided chat, assessments from answer files, and knowledge checks.

Every refusal is one line naming what was wrong and what is allowed, with exit code 2, and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from dvrules.answers import AnswerError
from dvrules.api import DVRules, QuestionView
from dvrules.interview import Session, SessionError
from dvrules.knowledge import KnowledgeError
from dvrules.report import act_now, cite_text, headline, render
from dvrules.results import Result
from dvrules.store import StoreError, TinyDBStore

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="UK domestic-violence standards, risk prompts and referral pathways.")
kb_app = typer.Typer(no_args_is_help=True, help="Check and count the knowledge base.")
sessions_app = typer.Typer(no_args_is_help=True, help="Erase stored sessions.")
app.add_typer(kb_app, name="kb")
app.add_typer(sessions_app, name="sessions")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

SAFETY = "In immediate danger: call 999."
PRIVACY = "Do not enter names, addresses, dates of birth or other identifying details."
COMMANDS = ("Type an answer, or: back | skip (don't know) | why [item id] | summary | result | "
            "help | quit | forget")


class Format(str, Enum):
    json = "json"
    text = "text"
    markdown = "markdown"


class ListFormat(str, Enum):
    json = "json"
    text = "text"


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2."""
    err_console.print(escape(message), soft_wrap=True)
    raise typer.Exit(2)


def _rules(area: Optional[str]) -> DVRules:
    try:
        return DVRules(area=area)
    except KnowledgeError as exc:
        fail(str(exc))
        raise  # unreachable; keeps type checkers calm


def _flow(rules: DVRules, flow: str) -> str:
    if flow not in rules.kb.flows:
        fail(f"flow: {flow!r} is not a flow; choose one of: {', '.join(rules.kb.flows)}")
    return flow


def _read_answers(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"answers: cannot read {path}: {exc.__class__.__name__}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"answers: not valid JSON ({exc.msg} at line {exc.lineno}); expected an object "
             "of answer id to value")
    if not isinstance(data, dict):
        fail("answers: expected a JSON object of answer id to value")
    return data


def _known_ids(rules: DVRules, flow: str, data: dict[str, Any]) -> None:
    """Refuse an answer id the flow does not ask, saying where the allowed ids are listed."""
    asked = rules.kb.flow(flow).questions
    for qid in data:
        if qid not in asked and qid not in rules.kb.retired:  # retired ids: refused by check_answer
            fail(f"{qid}: no such question in flow {flow}; the answer ids are listed by: "
                 f"dvrules questions {flow}")


AREA = typer.Option(None, "--area", envvar="DVRULES_AREA",
                    help="Local service directory to list local contacts from.")


@app.command()
def assess(flow: str, answers: str = typer.Option(..., "--answers", help="JSON file, or - for stdin"),
           format: Format = typer.Option(Format.text, "--format"),
           area: Optional[str] = AREA) -> None:
    """Assess a complete answer file and print the result."""
    rules = _rules(area)
    _flow(rules, flow)
    data = _read_answers(answers)
    _known_ids(rules, flow, data)
    try:
        result = rules.assess(flow, data)
    except AnswerError as exc:
        fail(str(exc))
    _print_result(result, format)


def _print_result(result: Result, format: Format) -> None:
    if format is Format.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render(result, markdown=format is Format.markdown))


@app.command()
def questions(flow: str, format: ListFormat = typer.Option(ListFormat.text, "--format")) -> None:
    """List a flow's questions in asking order (an interview asks only those that matter)."""
    rules = _rules(None)
    _flow(rules, flow)
    views = rules.questions(flow)
    if format is ListFormat.json:
        sys.stdout.write(json.dumps([v.model_dump(exclude_none=True) for v in views], indent=2) + "\n")
        return
    for v in views:
        console.print(f"[bold]{v.id}[/bold] ({escape(v.allowed)}): {escape(v.text)}  "
                      f"[dim]{escape(cite_text(v.source))}[/dim]", soft_wrap=True)


@app.command()
def explain(flow: str, item_id: str, answers: str = typer.Option(..., "--answers"),
            format: ListFormat = typer.Option(ListFormat.text, "--format")) -> None:
    """Why one result item is as it is: status, because, source and definitions."""
    rules = _rules(None)
    _flow(rules, flow)
    data = _read_answers(answers)
    _known_ids(rules, flow, data)
    try:
        info = rules.explain(flow, data, item_id)
    except (AnswerError, KnowledgeError) as exc:
        fail(str(exc))
    if format is ListFormat.json:
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return
    state = {True: "holds (met)", False: "does not hold (not met)", None: "unknown"}[info["holds"]]
    console.print(f"[bold]{escape(info['title'])}[/bold] ({info['id']}): {state}", soft_wrap=True)
    for line in info["because"]:
        console.print(f"  because: {escape(line)}", soft_wrap=True)
    if info["questions"]:
        console.print(f"  would be decided by: {', '.join(info['questions'])}")
    console.print(f"  source: {escape(cite_text(info['source']))}")
    for d in info["definitions"]:
        console.print(f"  {escape(d['title'])}: {escape(d['text'])} ({escape(cite_text(d['source']))})",
                      soft_wrap=True)


# ---------------------------------------------------------------------- knowledge


@kb_app.command("check")
def kb_check() -> None:
    """Load, validate and compile the knowledge; exit 2 naming the file and item if it is wrong."""
    rules = _rules(None)
    console.print(f"knowledge {rules.kb.version} is valid: {len(rules.kb.questions)} questions, "
                  f"{len(rules.kb.outcomes)} outcomes, {rules.engine.rule_count} compiled rules")


def stale_items(rules: DVRules, today: dt.date | None = None) -> list[tuple[str, str | None]]:
    """Items with a review date older than 12 months, or none at all where one is expected."""
    return [(row["id"], row["last_reviewed"]) for row in reviewed_rows(rules, today)
            if row["stale"]]


def reviewed_rows(rules: DVRules, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every contact and outside fact with its review date, flagged ``stale`` when it was last
    checked more than 12 months before ``today`` (or never)."""
    today = today or dt.date.today()
    cutoff = today.replace(year=today.year - 1, day=min(today.day, 28) if today.month == 2 else today.day)
    rows = []
    for row in rules.kb.reviewed_items():
        date = row["last_reviewed"]
        rows.append({**row, "stale": date is None or dt.date.fromisoformat(date) < cutoff})
    return rows


def _today(value: Optional[str]) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"today: {value!r} is not a date written YYYY-MM-DD")
        raise


@kb_app.command("stats")
def kb_stats(format: ListFormat = typer.Option(ListFormat.text, "--format"),
             today: Optional[str] = typer.Option(
                 None, "--today", help="Judge review dates as on this day (YYYY-MM-DD).")) -> None:
    """Count what the knowledge holds; list every contact and outside fact with the date it was
    last reviewed, flagging those not reviewed within 12 months."""
    rules = _rules(None)
    rows = reviewed_rows(rules, _today(today))
    stats = rules.kb.stats()
    stats["reviewed"] = rows
    stats["not_reviewed_in_12_months"] = [r["id"] for r in rows if r["stale"]]
    if format is ListFormat.json:
        sys.stdout.write(json.dumps(stats, indent=2) + "\n")
        return
    console.print(f"knowledge version {stats.pop('version')}")
    stats.pop("reviewed")
    stale = stats.pop("not_reviewed_in_12_months")
    for key, value in stats.items():
        console.print(f"{key}: {json.dumps(value)}", soft_wrap=True)
    console.print(f"contacts and outside facts ({len(rows)}), with the date each was last reviewed:")
    for row in rows:
        flag = "  OLDER THAN 12 MONTHS - check it" if row["stale"] else ""
        what = " ".join(str(row[k]) for k in ("phone", "url") if row.get(k))
        if row.get("date"):
            what += f" (page dated {row['date']})"
        console.print(escape(f"  {row['last_reviewed'] or 'never reviewed'}  {row['id']}"
                             f"{'  ' + what if what else ''}{flag}"), soft_wrap=True)
    console.print(f"not reviewed within 12 months: {len(stale)}"
                  + (f" ({', '.join(stale)})" if stale else ""), soft_wrap=True)


# ---------------------------------------------------------------------- sessions


@sessions_app.command("forget")
def sessions_forget(session: str) -> None:
    """Erase one stored session now."""
    try:
        removed = TinyDBStore().delete(session)
    except StoreError as exc:
        fail(str(exc))
    console.print("erased" if removed else "no such session (nothing to erase)")


@sessions_app.command("purge")
def sessions_purge() -> None:
    """Erase every session past its time to live (DVRULES_SESSION_TTL_DAYS, default 30)."""
    console.print(f"erased {TinyDBStore().purge_expired()} expired session(s)")


# ---------------------------------------------------------------------- guided chat


@app.command()
def chat(flow: str, session: Optional[str] = typer.Option(
             None, "--session", help="Case code to start or resume (no names)."),
         area: Optional[str] = AREA) -> None:
    """A guided interview in the terminal; resumable with --session."""
    rules = _rules(area)
    _flow(rules, flow)
    code = session or f"case-{secrets.token_hex(3)}"
    try:
        s = Session(rules, flow, code, TinyDBStore())
    except (SessionError, StoreError) as exc:
        fail(str(exc))
    title = rules.kb.flow(flow).title
    intro = rules.kb.flow(flow).intro or ""
    console.print(Panel(f"[bold]{escape(title)}[/bold]\n{escape(intro)}\n\n[bold red]{SAFETY}[/bold red]\n"
                        f"{PRIVACY}\n\n{escape(COMMANDS)}", title="dvrules"))
    answered = s.progress()["answered"]
    console.print(f"Case code [bold]{escape(code)}[/bold]"
                  + (f": resuming, {answered} answered." if answered else ".")
                  + f" Resume later with: dvrules chat {flow} --session {code}")
    _chat_loop(rules, s)


def _chat_loop(rules: DVRules, s: Session) -> None:
    alerted: set[str] = set()
    while True:
        for item_id, title, source in act_now(s.result()):
            if item_id not in alerted:
                alerted.add(item_id)
                console.print(f"[bold red]Act now: {escape(title)}[/bold red] [dim]({escape(source)})[/dim]",
                              soft_wrap=True)
        q = s.next_question()
        if q is None:
            _show_result(s.result())
            return
        _show_question(q)
        try:
            text = console.input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print(f"\nStopped. Answers so far are kept; resume with: dvrules chat "
                          f"{s.flow} --session {s.id}")
            return
        command, _, arg = text.partition(" ")
        command = command.lower()
        if command in ("quit", "exit", "cancel"):
            console.print(f"Stopped. Resume with: dvrules chat {s.flow} --session {s.id}")
            return
        if command == "help":
            console.print(f"[bold red]{SAFETY}[/bold red] {PRIVACY}\n{escape(COMMANDS)}")
        elif command == "back":
            try:
                s.back()
            except SessionError as exc:
                console.print(escape(str(exc)))
        elif command == "skip":
            s.skip(q.id)
        elif command == "summary":
            p = s.progress()
            console.print(f"{p['answered']} answered ({p['dont_know']} don't know), about "
                          f"{p['remaining']} still to ask.")
            console.print(headline(s.result()))
        elif command == "result":
            _show_result(s.result())
        elif command == "why":
            _why(rules, s, q, arg.strip())
        elif command == "forget":
            confirm = console.input("Erase this case's answers now? Type yes to confirm: ")
            if confirm.strip().lower() == "yes":
                s.forget()
                console.print("Erased. Nothing is kept for this case code.")
                return
        elif text:
            try:
                s.answer_text(q.id, text)
            except AnswerError as exc:
                console.print(f"[yellow]{escape(exc.reason.capitalize())}.[/yellow]")


def _show_question(q: QuestionView) -> None:
    progress = ""
    if q.progress:
        progress = f"[dim][{q.progress.answered + 1} of about {q.progress.answered + q.progress.remaining}][/dim] "
    console.print()
    console.print(f"{progress}[bold]{escape(q.text)}[/bold]", soft_wrap=True)
    if q.help:
        console.print(f"[dim]{escape(q.help)}[/dim]", soft_wrap=True)
    for i, c in enumerate(q.choices, 1):
        console.print(f"  {i}. {escape(c.label)} [dim]({c.id})[/dim]")
    unit = f" ({q.unit})" if q.unit else ""
    console.print(f"[dim]Enter {escape(q.allowed)}{escape(unit)}. Source: "
                  f"{escape(cite_text(q.source))}[/dim]", soft_wrap=True)


def _show_result(result: Result) -> None:
    console.print()
    console.print(Panel(escape(render(result).rstrip("\n")), title=headline(result)))
    console.print(f"[bold red]{SAFETY}[/bold red]")


def _why(rules: DVRules, s: Session, q: QuestionView, item_id: str) -> None:
    if not item_id:
        console.print(f"Asked because it can still change the result. Source: "
                      f"{escape(cite_text(q.source))}")
        if q.definition:
            console.print(f"{escape(q.definition.title)}: {escape(q.definition.text)}", soft_wrap=True)
        return
    try:
        info = rules.explain(s.flow, s.answers, item_id)
    except KnowledgeError as exc:
        console.print(escape(str(exc)))
        return
    console.print(f"[bold]{escape(info['title'])}[/bold] ({escape(cite_text(info['source']))})")
    for line in info["because"]:
        console.print(f"  because: {escape(line)}", soft_wrap=True)


def main() -> None:  # pragma: no cover - console script entry point
    app()
