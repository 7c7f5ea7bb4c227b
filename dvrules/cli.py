"""The ``dvrules`` command: guided chat, assessments from answer files, and knowledge checks.

Every refusal is one line naming what was wrong and what is allowed, with exit code 2, and
nothing is written.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import shlex
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from dvrules.answers import AnswerError, read_answers_file
from dvrules.api import DVRules
from dvrules.audit.render import write_atomic
from dvrules.chat import COMMANDS as CHAT_COMMANDS
from dvrules.chat import Conversation, Edit, Reply, Send, SendDocument, formats, wrap
from dvrules.cli_output import ListFormat, console, err_console, fail
from dvrules.errors import StoreError
from dvrules.interview import Session, SessionError
from dvrules.knowledge import KnowledgeError, default_knowledge_dir, version_problems
from dvrules.report import cite_text, render
from dvrules.results import Result
from dvrules.scenarios import ScenarioError
from dvrules.scenarios import load_all as load_scenarios
from dvrules.scenarios import run as run_scenarios
from dvrules.store import DamagedSessionError, SessionStore, open_store

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="UK domestic-violence standards, risk prompts and referral pathways.",
)
kb_app = typer.Typer(no_args_is_help=True, help="Check and count the knowledge base.")
sessions_app = typer.Typer(no_args_is_help=True, help="Erase stored sessions.")
app.add_typer(kb_app, name="kb")
app.add_typer(sessions_app, name="sessions")


class Format(str, Enum):
    json = "json"
    text = "text"
    markdown = "markdown"


def _rules(area: str | None) -> DVRules:
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
    """The answers file (``-`` = stdin), or one line and exit 2 (limits: ``read_answers_file``)."""
    try:
        return read_answers_file(path)
    except AnswerError as exc:
        fail(str(exc))
        raise  # unreachable


def _known_ids(rules: DVRules, flow: str, data: dict[str, Any]) -> None:
    """Refuse an answer id the flow does not ask, saying where the allowed ids are listed."""
    asked = rules.kb.flow(flow).questions
    for qid in data:
        if qid not in asked and qid not in rules.kb.retired:  # retired ids: refused by check_answer
            fail(
                f"{qid}: no such question in flow {flow}; the answer ids are listed by: "
                f"dvrules questions {flow}"
            )


AREA = typer.Option(
    None,
    "--area",
    envvar="DVRULES_AREA",
    help="Local service directory to list local contacts from.",
)


@app.command()
def assess(
    flow: str,
    answers: str = typer.Option(..., "--answers", help="JSON file, or - for stdin"),
    format: Format = typer.Option(Format.text, "--format"),
    area: str | None = AREA,
) -> None:
    """Assess a complete answer file and print the result."""
    rules = _rules(area)
    _flow(rules, flow)
    data = _read_answers(answers)
    _known_ids(rules, flow, data)
    try:
        result = rules.assess(flow, data)
    except AnswerError as exc:
        fail(str(exc))
    _print_result(rules, result, format)


def _print_result(rules: DVRules, result: Result, format: Format) -> None:
    if format is Format.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        sys.stdout.write(render(result, markdown=format is Format.markdown, kb=rules.kb))


@app.command()
def questions(flow: str, format: ListFormat = typer.Option(ListFormat.text, "--format")) -> None:
    """List a flow's questions in asking order (an interview asks only those that matter)."""
    rules = _rules(None)
    _flow(rules, flow)
    views = rules.questions(flow)
    if format is ListFormat.json:
        sys.stdout.write(
            json.dumps([v.model_dump(exclude_none=True) for v in views], indent=2) + "\n"
        )
        return
    for v in views:
        console.print(
            f"[bold]{v.id}[/bold] ({escape(v.allowed)}): {escape(v.text)}  "
            f"[dim]{escape(cite_text(v.source, rules.kb))}[/dim]",
            soft_wrap=True,
        )


@app.command()
def explain(
    flow: str,
    item_id: str,
    answers: str = typer.Option(..., "--answers"),
    format: ListFormat = typer.Option(ListFormat.text, "--format"),
) -> None:
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
    console.print(f"  source: {escape(cite_text(info['source'], rules.kb))}")
    for d in info["definitions"]:
        console.print(
            f"  {escape(d['title'])}: {escape(d['text'])} ({escape(cite_text(d['source'], rules.kb))})",
            soft_wrap=True,
        )


# ---------------------------------------------------------------------- knowledge


@kb_app.command("check")
def kb_check() -> None:
    """Load, validate and compile the knowledge, and check its version is current (manifest
    digest, changelog entry); exit 2 naming the file and item if anything is wrong."""
    rules = _rules(None)
    problems = version_problems(rules.kb.root)
    if problems:
        fail("; ".join(problems))
    console.print(
        f"knowledge {rules.kb.version} is valid: {len(rules.kb.questions)} questions, "
        f"{len(rules.kb.outcomes)} outcomes, {rules.engine.rule_count} compiled rules"
    )


def _default_scenarios() -> Path:
    """``tests/scenarios`` of the working folder, else beside the repository's knowledge."""
    here = Path("tests/scenarios")
    if here.is_dir():
        return here
    return default_knowledge_dir().parent / "tests" / "scenarios"


@kb_app.command("test")
def kb_test(
    path: Path | None = typer.Argument(
        None, help="a scenario file or a folder of them (default: tests/scenarios)"
    ),
    name: str | None = typer.Option(
        None, "-k", help="run only the scenarios whose name contains this text"
    ),
) -> None:
    """Run the knowledge's scenario tests: one line (file:line, name, difference) per failure,
    exit 1 if any fails or a scenario file does not fit the format, else 0."""
    rules = _rules(None)
    try:
        cases = load_scenarios(path or _default_scenarios(), rules.kb)
    except ScenarioError as exc:
        err_console.print(escape(str(exc)), soft_wrap=True, highlight=False)
        raise typer.Exit(1) from None
    ran = failed = 0
    for case, diffs in run_scenarios(cases, name):
        ran += 1
        if diffs:
            failed += 1
            console.print(
                escape(f"{case.where}: FAIL {case.name}: {'; '.join(diffs)}"), soft_wrap=True
            )
    if ran == 0:
        err_console.print(f"no scenario name contains {name!r}" if name else "no scenarios")
        raise typer.Exit(1)
    console.print(f"{ran - failed} passed, {failed} failed (of {ran} scenarios)")
    if failed:
        raise typer.Exit(1)


def stale_items(rules: DVRules, today: dt.date | None = None) -> list[tuple[str, str | None]]:
    """Items with a review date older than 12 months, or none at all where one is expected."""
    return [
        (row["id"], row["last_reviewed"]) for row in reviewed_rows(rules, today) if row["stale"]
    ]


def reviewed_rows(rules: DVRules, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Every contact and outside fact with its review date, flagged ``stale`` when it was last
    checked more than 12 months before ``today`` (or never)."""
    today = today or dt.date.today()
    cutoff = today.replace(
        year=today.year - 1, day=min(today.day, 28) if today.month == 2 else today.day
    )
    rows = []
    for row in rules.kb.reviewed_items():
        date = row["last_reviewed"]
        rows.append({**row, "stale": date is None or dt.date.fromisoformat(date) < cutoff})
    return rows


def _today(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"today: {value!r} is not a date written YYYY-MM-DD")
        raise


@kb_app.command("stats")
def kb_stats(
    format: ListFormat = typer.Option(ListFormat.text, "--format"),
    today: str | None = typer.Option(
        None, "--today", help="Judge review dates as on this day (YYYY-MM-DD)."
    ),
) -> None:
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
    console.print(
        f"contacts and outside facts ({len(rows)}), with the date each was last reviewed:"
    )
    for row in rows:
        flag = "  OLDER THAN 12 MONTHS - check it" if row["stale"] else ""
        what = " ".join(str(row[k]) for k in ("phone", "url") if row.get(k))
        if row.get("date"):
            what += f" (page dated {row['date']})"
        console.print(
            escape(
                f"  {row['last_reviewed'] or 'never reviewed'}  {row['id']}"
                f"{'  ' + what if what else ''}{flag}"
            ),
            soft_wrap=True,
        )
    console.print(
        f"not reviewed within 12 months: {len(stale)}"
        + (f" ({', '.join(stale)})" if stale else ""),
        soft_wrap=True,
    )


# ---------------------------------------------------------------------- sessions


@sessions_app.command("forget")
def sessions_forget(session: str) -> None:
    """Erase one stored session now."""
    try:
        removed = open_store().delete(session)
    except StoreError as exc:
        fail(str(exc))
    console.print("erased" if removed else "no such session (nothing to erase)")


@sessions_app.command("purge")
def sessions_purge() -> None:
    """Erase every session past its time to live (DVRULES_SESSION_TTL_DAYS, default 30)."""
    try:
        removed = open_store().purge_expired()
    except StoreError as exc:
        fail(str(exc))
    console.print(f"erased {removed} expired session(s)")


# ---------------------------------------------------------------------- guided chat


@app.command()
def chat(
    flow: str,
    session: str | None = typer.Option(
        None, "--session", help="Case code to start or resume (no names)."
    ),
    area: str | None = typer.Option(
        None,
        "--area",
        envvar="DVRULES_AREA",
        help="Referral flow: the local service "
        "directory to list local contacts from. Self-assessments: the partnership's name "
        "(e.g. Camden), shown on the report and naming the kept assessment.",
    ),
    period: str | None = typer.Option(
        None,
        "--period",
        help="Self-assessments: the period assessed (e.g. 2026-27); with "
        "--area the finished assessment is kept (dvrules assessments list).",
    ),
    out: Path = typer.Option(
        Path("."),
        "--out",
        help="Self-assessments: the folder the report is written to when you type report.",
    ),
    replace: bool = typer.Option(
        False, "--replace", help="Overwrite a kept assessment of the same flow, area and period."
    ),
) -> None:
    """A guided interview in the terminal; resumable with --session."""
    from dvrules.audit.assessments import AssessmentError, check_area, check_period

    rules = _rules(None)
    _flow(rules, flow)
    case = rules.kb.flow(flow).summary.kind == "referral"
    if case:
        if period is not None:
            fail(
                "--period: the referral flow keeps no assessment (case answers expire); "
                "--period is for self-assessments such as cdrp or bvpi225"
            )
        rules = _rules(area) if area else rules
    else:
        try:
            area = check_area(area) if area else None
            period = check_period(period) if period else None
        except AssessmentError as exc:
            fail(str(exc))
        if period and not area:
            fail(
                "--period: give --area too (the partnership's name, e.g. Camden): a kept "
                "assessment is named by both"
            )
        if not out.is_dir():
            fail(f"--out: {out} is not a folder; give an existing folder for the report")
    code = session or f"case-{secrets.token_hex(3)}"
    try:
        store = open_store()
        answered = len(Session(rules, flow, code, store).answers)
    except DamagedSessionError as exc:
        fail(f"{exc}; erase it and start again with: dvrules sessions forget {code}")
    except (SessionError, StoreError) as exc:
        fail(str(exc))
    conversation = Conversation(
        rules, store, paged=False, area=None if case else area, period=None if case else period
    )
    keep = Keeper(rules, flow, code, store, area, period, replace) if area and period else None
    width = max(20, min(console.width, 100))
    spec = rules.kb.flow(flow)
    console.print(f"[bold]{escape(spec.title)}[/bold]")
    console.print(f"[bold red]{SAFETY}[/bold red]")
    console.print(wrap(PRIVACY, width), soft_wrap=True)
    console.print(wrap(COMMANDS, width), soft_wrap=True)
    console.print(
        wrap(
            f"Case code {code}"
            + (f": resuming, {answered} answered." if answered else ".")
            + f" Resume later with: {_resume(flow, code, keep)}",
            width,
        ),
        soft_wrap=True,
    )
    _show(conversation.press(code, f"f|{flow}"), width, out)
    if keep is not None:
        keep.check(width)  # resuming an assessment finished earlier: keep it now
    _chat_loop(conversation, code, flow, width, out, keep)


SAFETY = "In immediate danger: call 999."
PRIVACY = "Do not enter names, addresses, dates of birth or other identifying details."
COMMANDS = (
    "Type an answer (yes, no, a number, an option's number or words, several like 1 3 4), "
    "or: "
    + " | ".join(f"{c.name}{' ' + c.arg if c.arg else ''}" for c in CHAT_COMMANDS)
    + " | quit"
)


class Keeper:
    """Keeps the terminal's self-assessment (``--area`` and ``--period``) once it is finished,
    and again, replacing its own copy, each time it is amended and finished again."""

    def __init__(
        self,
        rules: DVRules,
        flow: str,
        code: str,
        store: SessionStore,
        area: str,
        period: str,
        replace: bool,
    ):
        self.rules, self.flow, self.code, self.store = rules, flow, code, store
        self.area, self.period, self.replace = area, period, replace
        self.kept: dict[str, Any] | None = None  # the answers last kept by this chat

    def check(self, width: int) -> None:
        from dvrules.audit.assessments import AssessmentError, AssessmentStore

        s = Session(self.rules, self.flow, self.code, self.store)
        if s.next_question() is not None or s.answers == self.kept:
            return
        store = AssessmentStore()
        try:
            kept = store.save(
                self.rules,
                self.flow,
                s.answers,
                area=self.area,
                period=self.period,
                replace=self.replace or self.kept is not None,
            )
        except AssessmentError as exc:
            same = [
                k
                for k in store.all()
                if k.flow == self.flow
                and k.area == self.area
                and k.period == self.period
                and k.answers == s.answers
            ]
            if not same:  # kept already with other answers: say how to replace it
                err_console.print(wrap(f"Not kept: {exc}", width), soft_wrap=True)
                return
            kept = same[0]
        self.kept = dict(s.answers)
        console.print(
            wrap(
                f"Kept as {kept.id} (no expiry): dvrules assessments show {kept.id}; "
                f"dvrules report {self.flow} --assessment {kept.id} --format pdf "
                "--out report.pdf",
                width,
            ),
            soft_wrap=True,
        )


def _resume(flow: str, code: str, keep: Keeper | None) -> str:
    """The command that carries on this chat (still keeping it, if it is being kept)."""
    kept = f" --area {shlex.quote(keep.area)} --period {keep.period}" if keep else ""
    return f"dvrules chat {flow} --session {code}{kept}"


def _chat_loop(
    conversation: Conversation, code: str, flow: str, width: int, out: Path, keep: Keeper | None
) -> None:
    resume = _resume(flow, code, keep)
    while True:
        try:
            text = console.input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print(
                "\n" + wrap(f"Stopped. Answers so far are kept; resume with: {resume}", width),
                soft_wrap=True,
            )
            return
        command = text.lower().split(" ", 1)[0]
        if command in ("quit", "exit", "cancel", "stop"):
            console.print(wrap(f"Stopped. Resume with: {resume}", width), soft_wrap=True)
            return
        if command == "forget":
            try:
                confirm = console.input("Erase this case's answers now? Type yes to confirm: ")
            except (EOFError, KeyboardInterrupt):
                confirm = ""
            if confirm.strip().lower() != "yes":
                console.print("Kept. Nothing was erased.")
                continue
            _show(conversation.text(code, "forget now"), width, out)
            return
        if not text:
            continue
        try:
            reply = conversation.text(code, text)
        except StoreError as exc:  # e.g. the disk filled up: say so, keep the chat going
            err_console.print(escape(f"{exc}; that answer was not saved"), soft_wrap=True)
            continue
        _show(reply, width, out)
        if keep is not None and any(m.kind == "result" for m in reply.messages):
            keep.check(width)
        if any(m.kind == "menu" for m in reply.messages):
            return  # the conversation left this flow (cancel): the terminal stops here


def _show(reply: Reply, width: int, out: Path) -> None:
    """Print a reply: every message sent or edited, wrapped at word boundaries; a document
    (the report) is written into the ``out`` folder and its path printed."""
    if reply.notice:
        console.print(wrap(reply.notice, width), soft_wrap=True)
    for act in reply.actions:
        if isinstance(act, SendDocument):
            try:
                write_atomic(out / act.name, act.data)
            except OSError as exc:
                console.print(
                    wrap(
                        f"Could not write the report into {out}: {exc.strerror}; "
                        "nothing was written.",
                        width,
                    ),
                    soft_wrap=True,
                )
                continue
            console.print(f"Report written: {escape(str(out / act.name))}", soft_wrap=True)
            continue
        if not isinstance(act, (Send, Edit)):
            continue
        message = act.message
        body = formats.text(message.paragraphs, width)
        console.print()
        if message.kind == "danger":
            console.print(f"[bold red]{escape(body)}[/bold red]", soft_wrap=True)
        else:
            console.print(escape(body), soft_wrap=True, highlight=False)
        if message.kind == "menu":  # its buttons cannot be tapped here: say how to start each
            flows = [
                b.payload[2:] for row in message.buttons for b in row if b.payload.startswith("f|")
            ]
            console.print("\n".join(f"  dvrules chat {f}" for f in flows))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="Port to listen on."),
) -> None:
    """The HTTP API (docs/http-api.md): OpenAPI document at /openapi.json; every route but
    /healthz needs DVRULES_API_TOKEN as a bearer token, which an address other than loopback
    requires. Sessions are kept in DVRULES_STORE."""
    import os

    try:
        from dvrules.http.server import TOKEN_ENV, run, start_problem
    except ImportError:
        fail("serve: needs the http extra: pip install 'dvrules[http]'")
    problem = start_problem(host, os.environ.get(TOKEN_ENV, "").strip())
    if problem:
        fail(problem)
    try:
        run(host, port)
    except (KnowledgeError, StoreError) as exc:
        fail(str(exc))


def main() -> None:  # pragma: no cover - console script entry point
    app()


# The audit pack's commands (assessments, report, plan, compare)
from dvrules.audit.cli import register as _register_audit  # noqa: E402

_register_audit(app)

# dvrules schema FLOW | --result
from dvrules.schemas import register as _register_schema  # noqa: E402

_register_schema(app)
