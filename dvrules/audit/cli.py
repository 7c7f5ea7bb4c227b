"""The co-ordinator's audit pack commands: kept assessments, report, plan, compare.

Registered on the ``dvrules`` app by ``register(app)`` (one line in dvrules/cli.py). Every
refusal is one line on stderr naming what was wrong and what is allowed, with exit code 2, and
nothing is written; files are written whole or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from dvrules.answers import AnswerError, check_answers
from dvrules.api import DVRules, default_rules
from dvrules.audit import plan as plans
from dvrules.audit import render
from dvrules.audit.assessments import (
    AssessmentError,
    AssessmentStore,
    KeptAssessment,
    check_area,
    check_period,
    check_role,
    read_json,
    self_assessment,
)
from dvrules.audit.compare import compare
from dvrules.audit.compare import markdown as compare_markdown
from dvrules.audit.pack import report_document
from dvrules.audit.view import Audit, build, headline
from dvrules.cli_output import ListFormat, console, err_console, fail
from dvrules.knowledge import KnowledgeError
from dvrules.results import AssessmentResult

assessments_app = typer.Typer(
    no_args_is_help=True,
    help=("Keep self-assessments (no expiry) for the annual audit; never case answers."),
)


class ReportFormat(str, Enum):
    html = "html"
    pdf = "pdf"
    markdown = "markdown"


class PlanFormat(str, Enum):
    csv = "csv"
    xlsx = "xlsx"
    markdown = "markdown"


class CompareFormat(str, Enum):
    json = "json"
    markdown = "markdown"
    html = "html"


def _rules() -> DVRules:
    try:
        return default_rules()
    except KnowledgeError as exc:
        fail(str(exc))


def _store() -> AssessmentStore:
    return AssessmentStore()


class Source:
    """Answers to report on: from a file, or from a kept assessment (with its metadata)."""

    def __init__(self, answers: dict[str, Any], label: str, kept: KeptAssessment | None = None):
        self.answers, self.label, self.kept = answers, label, kept


def _answers_file(path: str) -> dict[str, Any]:
    data = read_json(path, "answers")
    if not isinstance(data, dict):
        raise AssessmentError("answers: expected a JSON object of answer id to value")
    return data


def _source(flow: str, answers: str | None, assessment: str | None) -> Source:
    if (answers is None) == (assessment is None):
        raise AssessmentError("give exactly one of --answers FILE or --assessment ID")
    if assessment is not None:
        kept = _store().load(assessment)
        if kept.flow != flow:
            raise AssessmentError(f"{assessment} is an assessment of flow {kept.flow}, not {flow}")
        return Source(dict(kept.answers), kept.period, kept)
    assert answers is not None
    return Source(_answers_file(answers), "stdin" if answers == "-" else Path(answers).stem)


def _file_or_id(flow: str, ref: str) -> Source:
    """``--before``/``--after``: an answers file if one exists at that path, else a kept id."""
    if ref == "-" or Path(ref).is_file():
        return _source(flow, ref, None)
    try:
        return _source(flow, None, ref)
    except AssessmentError as exc:
        if "no such kept" in str(exc) or "not an assessment id" in str(exc):
            raise AssessmentError(
                f"{ref}: neither an answers file nor a kept assessment id "
                "(see: dvrules assessments list)"
            ) from None
        raise


def _write(out: str, data: str | bytes, binary: bool = False) -> None:
    if out == "-":
        if binary:
            fail("--out -: this format is binary; give a file name")
        sys.stdout.write(data if isinstance(data, str) else data.decode())
        return
    path = Path(out)
    if not path.parent.is_dir():
        fail(f"--out: the folder {path.parent} does not exist")
    if path.is_dir():
        fail(f"--out: {out} is a folder; give a file name")
    try:
        render.write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as exc:
        fail(f"--out: cannot write {out}: {exc.strerror}; nothing was written")
    err_console.print(f"written: {escape(str(path))}")


# ---------------------------------------------------------------------- kept assessments


@assessments_app.command("save")
def assessments_save(
    flow: str,
    answers: str = typer.Option(..., "--answers", help="JSON answers file, or - for stdin"),
    area: str = typer.Option(..., "--area", help="The partnership or borough, e.g. Camden."),
    period: str = typer.Option(..., "--period", help="e.g. 2026-27 (or a year, 2026)."),
    evidence: str | None = typer.Option(
        None, "--evidence", help="JSON file: answer id to a short note on the evidence."
    ),
    role: str | None = typer.Option(
        None, "--role", help="Who answered, as a role (e.g. DV co-ordinator), never a name."
    ),
    replace: bool = typer.Option(False, "--replace", help="Overwrite a kept assessment."),
) -> None:
    """Keep a self-assessment (no expiry) for the audit and next year's comparison."""
    rules = _rules()
    try:
        self_assessment(rules, flow)
        data = _answers_file(answers)
        notes = read_json(evidence, "evidence") if evidence is not None else None
        kept = _store().save(
            rules, flow, data, area=area, period=period, evidence=notes, role=role, replace=replace
        )
    except AssessmentError as exc:
        fail(str(exc))
    console.print(f"kept: {kept.id}")


@assessments_app.command("list")
def assessments_list(format: ListFormat = typer.Option(ListFormat.text, "--format")) -> None:
    """List kept assessments by flow, area and period."""
    store = _store()
    try:
        kept = store.all()
    except AssessmentError as exc:  # e.g. a Redis server that cannot be reached
        fail(str(exc))
    if store.damaged:
        err_console.print(
            f"{store.damaged} damaged file(s) in {escape(str(store.directory))} "
            "left as they are and not listed"
        )
    if format is ListFormat.json:
        sys.stdout.write(
            json.dumps(
                [
                    {
                        "id": k.id,
                        "flow": k.flow,
                        "area": k.area,
                        "period": k.period,
                        "role": k.role,
                        "knowledge_version": k.knowledge_version,
                        "saved": _when(k.saved),
                    }
                    for k in kept
                ],
                indent=2,
            )
            + "\n"
        )
        return
    if not kept:
        console.print(
            "no kept assessments (keep one with: dvrules assessments save FLOW "
            "--answers FILE --area AREA --period PERIOD)"
        )
        return
    table = Table("id", "flow", "area", "period", "saved")
    for k in kept:
        table.add_row(k.id, k.flow, k.area, k.period, _when(k.saved))
    console.print(table)


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


@assessments_app.command("show")
def assessments_show(
    assessment_id: str, format: ListFormat = typer.Option(ListFormat.text, "--format")
) -> None:
    """Show a kept assessment: who answered (role), when, its headline and its answers."""
    rules = _rules()
    try:
        kept = _store().load(assessment_id)
        result = rules.assess(kept.flow, kept.answers)
    except (AssessmentError, AnswerError) as exc:
        fail(str(exc))
    assert isinstance(result, AssessmentResult)
    if format is ListFormat.json:
        sys.stdout.write(
            json.dumps(
                {**kept.model_dump(), "saved": _when(kept.saved), "summary": result.summary},
                indent=2,
            )
            + "\n"
        )
        return
    console.print(f"[bold]{escape(kept.id)}[/bold]: {escape(rules.kb.flow(kept.flow).title)}")
    console.print(
        f"area {escape(kept.area)}, period {kept.period}, saved {_when(kept.saved)}, "
        f"knowledge {kept.knowledge_version}"
        + (f", answered by {escape(kept.role)}" if kept.role else "")
    )
    console.print(escape(headline(result)))
    for qid, value in kept.answers.items():
        note = kept.evidence.get(qid)
        console.print(
            f"  {qid}: {escape(json.dumps(value))}"
            + (f"  [dim](evidence: {escape(note)})[/dim]" if note else ""),
            soft_wrap=True,
        )


@assessments_app.command("export")
def assessments_export(
    assessment_id: str,
    out: str = typer.Option("-", "--out", help="File to write (default: standard output)."),
) -> None:
    """Write a kept assessment's answers as JSON (usable again with --answers)."""
    try:
        kept = _store().load(assessment_id)
    except AssessmentError as exc:
        fail(str(exc))
    _write(out, json.dumps(kept.answers, indent=2) + "\n")


@assessments_app.command("delete")
def assessments_delete(assessment_id: str) -> None:
    """Delete a kept assessment now."""
    try:
        removed = _store().delete(assessment_id)
    except AssessmentError as exc:
        fail(str(exc))
    console.print("deleted" if removed else "no such kept assessment (nothing to delete)")


# ---------------------------------------------------------------------- report, plan, compare


ANSWERS = typer.Option(None, "--answers", help="JSON answers file, or - for stdin.")
ASSESSMENT = typer.Option(None, "--assessment", help="A kept assessment id.")
OUT = typer.Option(..., "--out", help="File to write (- for standard output, text formats).")


def _meta(src: Source, area: str | None, period: str | None, role: str | None) -> dict[str, Any]:
    """Area, period, role and evidence notes: given on the command line, else the kept ones."""
    kept = src.kept
    return {
        "area": check_area(area) if area else (kept.area if kept else None),
        "period": check_period(period) if period else (kept.period if kept else None),
        "role": check_role(role) if role else (kept.role if kept else None),
        "evidence": kept.evidence if kept else None,
    }


def _audit(rules: DVRules, flow: str, src: Source, area: str | None, period: str | None) -> Audit:
    try:
        return build(rules, flow, src.answers, **_meta(src, area, period, None))
    except AnswerError as exc:
        raise AssessmentError(f"answers: {exc}") from None


def _before(rules: DVRules, flow: str, src: Source, previous: str | None) -> Source | None:
    """The previous period: given with --previous, or the kept one before a kept assessment."""
    before: Source | None = None
    if previous is not None:
        before = _file_or_id(flow, previous)
    elif src.kept is not None:
        earlier = _store().previous(src.kept)
        if earlier is not None:
            before = Source(dict(earlier.answers), earlier.period, earlier)
    if before is not None:
        try:
            check_answers(rules.kb, flow, before.answers)
        except AnswerError as exc:
            raise AssessmentError(f"previous answers: {exc}") from None
    return before


def report(
    flow: str,
    answers: str | None = ANSWERS,
    assessment: str | None = ASSESSMENT,
    format: ReportFormat = typer.Option(ReportFormat.html, "--format"),
    out: str = OUT,
    area: str | None = typer.Option(None, "--area", help="Area shown on the report."),
    period: str | None = typer.Option(None, "--period", help="e.g. 2026-27."),
    role: str | None = typer.Option(None, "--role", help="Who answered (a role)."),
    previous: str | None = typer.Option(
        None,
        "--previous",
        help="Last period's answers file or kept id (kept assessments find it themselves).",
    ),
) -> None:
    """A board-ready report: summary chart, change since last period, gaps, RAG table."""
    rules = _rules()
    binary = format is ReportFormat.pdf
    if binary and out == "-":
        fail("--out -: a PDF is binary; give a file name")
    try:
        self_assessment(rules, flow)
        src = _source(flow, answers, assessment)
        meta = _meta(src, area, period, role)
        before = _before(rules, flow, src, previous)
        try:
            doc = report_document(
                rules,
                flow,
                src.answers,
                format=format.value,
                **meta,
                previous=before.answers if before else None,
                previous_label=before.label if before else "",
            )
        except AnswerError as exc:
            raise AssessmentError(f"answers: {exc}") from None
    except (AssessmentError, render.PdfError) as exc:
        fail(str(exc))
    _write(out, doc.data if binary else doc.data.decode("utf-8"), binary=binary)


def plan(
    flow: str,
    answers: str | None = ANSWERS,
    assessment: str | None = ASSESSMENT,
    format: PlanFormat = typer.Option(PlanFormat.csv, "--format"),
    out: str = OUT,
    area: str | None = typer.Option(None, "--area", help="Area shown on the plan."),
    period: str | None = typer.Option(
        None, "--period", help="The period assessed, e.g. 2026-27 (dates the targets)."
    ),
) -> None:
    """An action plan in Camden's columns, one row per gap, next level first, SMART-checked."""
    rules = _rules()
    try:
        self_assessment(rules, flow)
        src = _source(flow, answers, assessment)
        audit = _audit(rules, flow, src, area, period)
    except AssessmentError as exc:
        fail(str(exc))
    rows = plans.rows(rules, audit)
    if format is PlanFormat.csv:
        _write(out, plans.to_csv(rows))
    elif format is PlanFormat.markdown:
        _write(out, plans.to_markdown(rows, audit))
    else:
        _write(out, plans.to_xlsx(rows, audit), binary=True)


def compare_cmd(
    flow: str,
    before: str = typer.Option(..., "--before", help="Answers file or kept id."),
    after: str = typer.Option(..., "--after", help="Answers file or kept id."),
    format: CompareFormat = typer.Option(CompareFormat.markdown, "--format"),
    out: str = typer.Option("-", "--out", help="File to write (default: stdout)."),
) -> None:
    """Year on year: status changes, level or score change, changed answers, still missing."""
    rules = _rules()
    try:
        self_assessment(rules, flow)
        b, a = _file_or_id(flow, before), _file_or_id(flow, after)
        cmp = compare(rules, flow, b.answers, a.answers, b.label, a.label)
        before_result = rules.assess(flow, b.answers)
        audit = build(
            rules,
            flow,
            a.answers,
            area=a.kept.area if a.kept else None,
            period=a.kept.period if a.kept else None,
        )
    except AnswerError as exc:
        fail(f"answers: {exc}")
    except AssessmentError as exc:
        fail(str(exc))
    if format is CompareFormat.json:
        _write(out, cmp.model_dump_json(indent=2) + "\n")
    elif format is CompareFormat.markdown:
        _write(out, compare_markdown(cmp))
    else:
        assert isinstance(before_result, AssessmentResult)
        _write(out, render.html(audit, cmp, before_result))


def register(app: typer.Typer) -> None:
    """Add the audit pack's commands to the ``dvrules`` app."""
    app.add_typer(assessments_app, name="assessments")
    app.command("report")(report)
    app.command("plan")(plan)
    app.command("compare")(compare_cmd)
