"""The audit report as a self-contained HTML page, as Markdown, and as PDF.

HTML: one file (styles and charts inline, no scripts, no outside requests) with a print
stylesheet for A4. PDF: that same page printed by headless Chromium, so what the browser tests
check is what the board reads. Markdown: the same content for a wiki or an email, with tables
and one list item per "because".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from dvrules.audit import charts
from dvrules.audit.compare import Comparison, esc
from dvrules.audit.view import LEVEL_WORDS, RAG, STATUS_WORDS, Audit
from dvrules.results import AssessmentResult

LEVEL_RAG = {"attained": "green", "not_attained": "red", "unknown": "amber"}


class PdfError(RuntimeError):
    """The PDF could not be made; the message says what to do instead."""


def _template(name: str) -> str:
    return (
        resources.files("dvrules.audit")
        .joinpath("templates")
        .joinpath(name)
        .read_text(encoding="utf-8")
    )


def html(
    audit: Audit, cmp: Comparison | None = None, before: AssessmentResult | None = None
) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    page = env.from_string(_template("report.html.j2"))
    change = (
        charts.change_chart(before, audit.result, cmp.before_label, cmp.after_label)
        if cmp is not None and before is not None
        else ""
    )
    return page.render(
        a=audit,
        cmp=cmp,
        css=_template("report.css"),
        summary_chart=charts.summary_chart(audit.result),
        change_chart=change,
        rag=RAG,
        words=STATUS_WORDS,
        level_rag=LEVEL_RAG,
        level_words=LEVEL_WORDS,
    )


def markdown(audit: Audit, cmp: Comparison | None = None) -> str:
    out = [f"# {audit.title}", ""]
    out += [
        f"- **Area:** {audit.area or 'not given'}",
        f"- **Period:** {audit.period or 'not given'}",
        f"- **Date:** {audit.date}",
    ]
    if audit.role:
        out.append(f"- **Answered by:** {audit.role}")
    out += [
        f"- **Knowledge version:** {audit.knowledge_version}",
        "",
        "## Summary",
        "",
        f"**{audit.headline}**",
        "",
    ]
    if audit.result.levels:
        out += [
            "| Level | Met | Not met | Not known yet | Requirements | Status |",
            "| --- | ---: | ---: | ---: | ---: | --- |",
        ]
        out += [
            f"| Level {lv.level} | {lv.met} | {lv.not_met} | {lv.unknown} | {lv.total} | "
            f"{LEVEL_WORDS[lv.status]} |"
            for lv in audit.result.levels
        ]
        out.append("")
    out += ["A requirement whose answer is not known yet is never counted as not met.", ""]
    if cmp is not None:
        out += [f"## Change since {cmp.before_label}", "", cmp.headline, ""]
        if cmp.items:
            out += [
                f"| Requirement | {esc(cmp.before_label)} | {esc(cmp.after_label)} |",
                "| --- | --- | --- |",
            ]
            out += [
                f"| {esc(i.title)} | {STATUS_WORDS[i.before]} | {STATUS_WORDS[i.after]} |"
                for i in cmp.items
            ]
            out.append("")
        if cmp.answers:
            out += ["Answers that changed:", ""]
            out += [f"- {c.label}: {c.before} → {c.after}" for c in cmp.answers]
            out.append("")
    out += [f"## {audit.gaps_heading}", ""]
    for g in audit.gap_groups:
        if g.heading:
            out += [f"### {g.heading}", ""]
        for i, r in enumerate(g.rows, 1):
            out.append(f"{i}. **{r.title}** ({r.ref}): {r.status_text}")
            out.append(f"    - Next step: {r.next_step}")
            out.append(f"    - To meet it: {r.measure}")
            out += [f"    - because {b}" for b in r.because]
            out.append(f"    - Source: {r.source}")
        out.append("")
    if not audit.gap_groups:
        out += ["No gaps: every requirement is met.", ""]
    out += [
        "## Every requirement",
        "",
        "| Ref | Requirement | Status | Answers behind it | Source |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in audit.rows + audit.monitoring:
        answers = "; ".join(
            f"{a.label}: {a.value}" + (f" (evidence: {a.evidence})" if a.evidence else "")
            for a in r.answers
        )
        title = r.title + ("" if r.scored else " (monitored, not scored)")
        out.append(
            f"| {r.ref} | {esc(title)} | {r.status_text} | {esc(answers)} | {esc(r.source)} |"
        )
    out += [
        "",
        f"Made with dvrules, knowledge version {audit.knowledge_version}, on "
        f"{audit.date}. **In immediate danger: call 999.**",
    ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------- PDF


def chromium() -> str | None:
    """The Chromium binary: $DVRULES_CHROMIUM, else chromium / chromium-browser on PATH."""
    configured = os.environ.get("DVRULES_CHROMIUM")
    if configured:
        return configured if shutil.which(configured) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_args(binary: str, profile: str) -> list[str]:
    """Headless, sandbox off (containers), and nothing that reaches the network."""
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
    ]


def pdf(page: str, out: Path, timeout: float = 120) -> None:
    """Print the HTML page to ``out`` as A4 PDF with headless Chromium."""
    write_atomic(out, pdf_bytes(page, timeout))


def pdf_bytes(page: str, timeout: float = 120) -> bytes:
    """The HTML page printed as A4 PDF by headless Chromium (fresh profile, no network)."""
    binary = chromium()
    if binary is None:
        raise PdfError(
            "pdf: needs Chromium (Debian: apt-get install chromium; or set "
            "DVRULES_CHROMIUM); or make --format html and print it from a browser"
        )
    with tempfile.TemporaryDirectory(prefix="dvrules-pdf-") as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page, encoding="utf-8")
        target = Path(tmp) / "report.pdf"
        args = chromium_args(binary, str(Path(tmp) / "profile")) + [
            "--no-pdf-header-footer",
            f"--print-to-pdf={target}",
            src.as_uri(),
        ]
        try:
            done = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise PdfError(f"pdf: Chromium did not finish within {timeout:.0f} s") from None
        if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            raise PdfError(f"pdf: Chromium could not print the page (exit {done.returncode})")
        return target.read_bytes()


def write_atomic(out: Path, data: bytes) -> None:
    """Write ``out`` whole or not at all (a temporary file beside it, then renamed)."""
    out = Path(out)
    fd, tmp = tempfile.mkstemp(
        dir=out.parent if str(out.parent) else ".", prefix=f".{out.name}.", suffix=".tmp"
    )
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # an ordinary file, as the user's other documents
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
