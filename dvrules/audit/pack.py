"""One call that turns answers into a report file, for any channel.

The command line, and a chat channel offering the report at the end of a self-assessment
(Telegram: send it as a document; Slack: upload it; terminal: write it and print the path),
all go through ``report_document`` so every channel hands over the same report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from dvrules.api import DVRules
from dvrules.audit import render
from dvrules.audit.assessments import self_assessment
from dvrules.audit.compare import compare
from dvrules.audit.view import build
from dvrules.results import AssessmentResult

MIME = {"html": "text/html", "markdown": "text/markdown", "pdf": "application/pdf"}
SUFFIX = {"html": ".html", "markdown": ".md", "pdf": ".pdf"}


@dataclass(frozen=True)
class Document:
    name: str  # a file name without any path, e.g. cdrp-camden-2026-27-report.pdf
    mime: str
    data: bytes


def report_document(
    rules: DVRules,
    flow: str,
    answers: Mapping[str, Any],
    *,
    format: Literal["html", "pdf", "markdown"] = "pdf",
    area: str | None = None,
    period: str | None = None,
    role: str | None = None,
    evidence: Mapping[str, str] | None = None,
    previous: Mapping[str, Any] | None = None,
    previous_label: str = "previous period",
) -> Document:
    """The report as a file's bytes. Raises ``AssessmentError`` (referral flow),
    ``AnswerError`` (bad answers) or ``render.PdfError`` (no Chromium for a PDF)."""
    self_assessment(rules, flow)
    audit = build(rules, flow, answers, area=area, period=period, role=role, evidence=evidence)
    cmp = None
    before: AssessmentResult | None = None
    if previous is not None:
        cmp = compare(rules, flow, previous, answers, previous_label, period or "this period")
        earlier = rules.assess(flow, previous)
        assert isinstance(earlier, AssessmentResult)
        before = earlier
    stem = (
        "-".join(
            re.sub(r"[^a-z0-9]+", "-", x.lower()).strip("-") for x in (flow, area, period) if x
        )
        + "-report"
    )
    if format == "markdown":
        data = render.markdown(audit, cmp).encode("utf-8")
    else:
        page = render.html(audit, cmp, before)
        if format == "html":
            data = page.encode("utf-8")
        else:
            data = render.pdf_bytes(page)
    return Document(name=stem + SUFFIX[format], mime=MIME[format], data=data)


def write_document(doc: Document, folder: Path) -> Path:
    """Write a document into ``folder`` atomically; returns its path (terminal channel)."""
    path = Path(folder) / doc.name
    render.write_atomic(path, doc.data)
    return path
