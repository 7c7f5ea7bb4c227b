"""Kept assessments: a partnership's or agency's self-assessment, saved with no expiry.

A self-assessment describes services, not people, so it may be kept for the annual audit and
compared year on year. Case sessions of the referral flow are never kept here: they expire
(see ``dvrules.store``). One JSON file per assessment, written atomically (temporary file,
fsync, rename), so a crash or a full disk leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from pydantic import BaseModel, ValidationError

from dvrules.answers import Answer, AnswerError, check_answers, read_json_input
from dvrules.api import DVRules

FORMAT_VERSION = 1
PERIOD = re.compile(r"(\d{4})(?:-(\d{2}))?")
AREA = re.compile(r"[A-Za-z0-9][A-Za-z0-9 &'.,()-]{0,79}")
ROLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 &'.,()/-]{0,59}")
ASSESSMENT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,159}")
MAX_NOTE = 1000


class AssessmentError(ValueError):
    """A kept-assessment request that cannot be done; the message says why and what is allowed."""


class KeptAssessment(BaseModel):
    """What is kept: no names, no case details; a role (e.g. "DV co-ordinator"), not a person."""

    id: str
    flow: str
    area: str
    period: str
    answers: dict[str, Answer]
    evidence: dict[str, str] = {}
    role: str | None = None
    knowledge_version: str
    saved: float
    format: int = FORMAT_VERSION


def default_dir() -> Path:
    return Path(
        os.environ.get("DVRULES_ASSESSMENTS") or Path(user_data_dir("dvrules")) / "assessments"
    )


def check_period(period: str) -> str:
    """``2026-27`` (a financial year, the second part the year after) or ``2026``."""
    m = PERIOD.fullmatch(period.strip())
    if not m or (m.group(2) is not None and int(m.group(2)) != (int(m.group(1)) + 1) % 100):
        raise AssessmentError(
            f"period: {period!r} is not a period; write a year such as 2026 or a "
            "financial year such as 2026-27"
        )
    return m.group(0)


def check_area(area: str) -> str:
    area = " ".join(area.split())
    if not AREA.fullmatch(area):
        raise AssessmentError(
            f"area: {area!r} is not an area name; use up to 80 letters, digits, "
            "spaces and & ' . , ( ) - (the partnership or borough, e.g. Camden)"
        )
    return area


def check_role(role: str | None) -> str | None:
    if role is None:
        return None
    role = " ".join(role.split())
    if not ROLE.fullmatch(role):
        raise AssessmentError(
            f"role: {role!r} is not a role; use up to 60 letters, digits and "
            "spaces, e.g. DV co-ordinator (a role, never a name)"
        )
    return role


def check_evidence(
    rules: DVRules, flow: str, notes: Any, answers: Mapping[str, Any]
) -> dict[str, str]:
    """An optional note per answer, saying where the evidence is (self-assessment flows only)."""
    if notes is None:
        return {}
    if not isinstance(notes, Mapping):
        raise AssessmentError("evidence: expected a JSON object of answer id to a short note")
    asked = rules.kb.flow(flow).questions
    out = {}
    for qid, note in notes.items():
        if qid not in asked:
            raise AssessmentError(
                f"evidence: {qid}: no such question in flow {flow}; the answer "
                f"ids are listed by: dvrules questions {flow}"
            )
        if qid not in answers:
            raise AssessmentError(f"evidence: {qid}: there is no answer for it to support")
        if not isinstance(note, str) or not note.strip() or len(note) > MAX_NOTE:
            raise AssessmentError(f"evidence: {qid}: a note is text of 1 to {MAX_NOTE} characters")
        out[qid] = " ".join(note.split())
    return out


def self_assessment(rules: DVRules, flow: str) -> str:
    if flow not in rules.kb.flows:
        raise AssessmentError(
            f"flow: {flow!r} is not a flow; choose one of: {', '.join(rules.kb.flows)}"
        )
    if rules.kb.flow(flow).summary.kind == "referral":
        raise AssessmentError(
            f"{flow}: only self-assessments of a partnership or agency are kept; "
            "case answers of the referral flow are never kept (case sessions "
            "expire and can be erased with: dvrules sessions forget)"
        )
    return flow


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class AssessmentStore:
    """Kept assessments in ``directory``, one JSON file each, named by the assessment id."""

    def __init__(self, directory: Path | str | None = None):
        self.directory = Path(directory) if directory is not None else default_dir()
        self.damaged = 0  # files the last ``all()`` could not read

    def _path(self, assessment_id: str) -> Path:
        if not ASSESSMENT_ID.fullmatch(assessment_id):
            raise AssessmentError(
                f"{assessment_id!r} is not an assessment id; ids look like "
                "cdrp-camden-2026-27 (see: dvrules assessments list)"
            )
        return self.directory / f"{assessment_id}.json"

    def save(
        self,
        rules: DVRules,
        flow: str,
        answers: Mapping[str, Any],
        *,
        area: str,
        period: str,
        evidence: Any = None,
        role: str | None = None,
        replace: bool = False,
    ) -> KeptAssessment:
        """Check everything, then write atomically; refuses to overwrite unless ``replace``."""
        self_assessment(rules, flow)
        area, period, role = check_area(area), check_period(period), check_role(role)
        try:
            valid = check_answers(rules.kb, flow, answers)
        except AnswerError as exc:
            raise AssessmentError(f"answers: {exc}") from None
        notes = check_evidence(rules, flow, evidence, valid)
        kept = KeptAssessment(
            id=f"{flow}-{slug(area)}-{period}",
            flow=flow,
            area=area,
            period=period,
            answers=valid,
            evidence=notes,
            role=role,
            knowledge_version=rules.kb.version,
            saved=time.time(),
        )
        path = self._path(kept.id)
        if path.exists() and not replace:
            raise AssessmentError(
                f"{kept.id} is already kept; add --replace to overwrite it, or "
                f"delete it first with: dvrules assessments delete {kept.id}"
            )
        self._write(path, kept.model_dump_json(indent=2))
        return kept

    def _write(self, path: Path, text: str) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        except OSError as exc:
            raise AssessmentError(f"cannot write to {self.directory}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise AssessmentError(
                f"cannot write {path.name}: {exc.strerror}; nothing was changed"
            ) from None

    def load(self, assessment_id: str) -> KeptAssessment:
        path = self._path(assessment_id)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise AssessmentError(
                f"{assessment_id}: no such kept assessment (see: dvrules assessments list)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise AssessmentError(
                f"{assessment_id}: cannot read it ({exc.__class__.__name__})"
            ) from None
        try:
            return KeptAssessment.model_validate_json(text)
        except ValidationError:
            raise AssessmentError(
                f"{assessment_id}: the file {path.name} is damaged; it was left as it is"
            ) from None

    def all(self) -> list[KeptAssessment]:
        """Every readable kept assessment, by flow, area and period (damaged files skipped)."""
        out: list[KeptAssessment] = []
        self.damaged = 0
        if not self.directory.is_dir():
            return out
        for path in sorted(self.directory.glob("*.json")):
            if path.name.startswith(".tmp-"):
                continue
            try:
                out.append(self.load(path.stem))
            except AssessmentError:
                self.damaged += 1
        return sorted(out, key=lambda k: (k.flow, k.area.lower(), k.period))

    def delete(self, assessment_id: str) -> bool:
        path = self._path(assessment_id)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def previous(self, kept: KeptAssessment) -> KeptAssessment | None:
        """The latest kept assessment of the same flow and area from an earlier period."""
        earlier = [
            k
            for k in self.all()
            if k.flow == kept.flow and slug(k.area) == slug(kept.area) and k.period < kept.period
        ]
        return earlier[-1] if earlier else None


def read_json(path: str, what: str) -> Any:
    """A JSON file (``-`` = stdin) or an ``AssessmentError`` naming what was wrong; the limits
    of an answers file apply (size, duplicate keys, nesting, long numbers)."""
    try:
        return read_json_input(path, what)
    except AnswerError as exc:
        raise AssessmentError(str(exc)) from None
