"""Kept assessments: a partnership's or agency's self-assessment, saved with no expiry.

A self-assessment describes services, not people, so it may be kept for the annual audit and
compared year on year. Case sessions of the referral flow are never kept here: they expire
(see ``dvrules.store``). One JSON file per assessment, written atomically (temporary file,
fsync, rename), so a crash or a full disk leaves the previous version intact. When
``DVRULES_STORE`` names a Redis server (and ``DVRULES_ASSESSMENTS`` no folder), they are kept
there instead, one key each with no expiry (``dvrules:a:<id>``), so every process and machine
sharing the server sees the same ones; a write is one command (never half), and keeping an
assessment that exists already is refused atomically (``SET NX``).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_data_dir
from pydantic import BaseModel, ValidationError

from dvrules.answers import Answer, check_answers, read_json_input
from dvrules.api import DVRules
from dvrules.errors import AnswerError, StoreError
from dvrules.store import is_redis_url

if TYPE_CHECKING:
    import redis

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


class _Files:
    """Kept assessments in a folder, one JSON file each, named by the assessment id."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.where = str(directory)

    def name(self, assessment_id: str) -> str:
        return f"the file {assessment_id}.json"

    def read(self, assessment_id: str) -> str | None:
        try:
            return (self.directory / f"{assessment_id}.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise AssessmentError(
                f"{assessment_id}: cannot read it ({exc.__class__.__name__})"
            ) from None

    def exists(self, assessment_id: str) -> bool:
        return (self.directory / f"{assessment_id}.json").exists()

    def write(self, assessment_id: str, text: str, replace: bool) -> bool:
        path = self.directory / f"{assessment_id}.json"
        if path.exists() and not replace:
            return False
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
        return True

    def delete(self, assessment_id: str) -> bool:
        path = self.directory / f"{assessment_id}.json"
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def ids(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(
            p.stem for p in self.directory.glob("*.json") if not p.name.startswith(".tmp-")
        )


class _Redis:
    """Kept assessments in Redis, one key each (``dvrules:a:<id>``), with no expiry."""

    PREFIX = "dvrules:a:"

    def __init__(self, url: str):
        from dvrules.store_redis import connect, where  # imported only when used

        self.where = where(url)
        self.client: redis.Redis = connect(url)

    @contextlib.contextmanager
    def _server(self, doing: str) -> Iterator[None]:
        from dvrules.store_redis import server_errors

        try:
            with server_errors(f"cannot {doing} the kept assessments at {self.where}"):
                yield
        except StoreError as exc:
            raise AssessmentError(f"{exc}; nothing was changed") from None

    def name(self, assessment_id: str) -> str:
        return f"the key {self.PREFIX}{assessment_id} at {self.where}"

    def read(self, assessment_id: str) -> str | None:
        with self._server("read"):
            value = self.client.get(self.PREFIX + assessment_id)
        if value is None:
            return None
        try:
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)
        except UnicodeDecodeError:
            return "\0"  # damaged

    def exists(self, assessment_id: str) -> bool:
        with self._server("read"):
            return bool(self.client.exists(self.PREFIX + assessment_id))

    def write(self, assessment_id: str, text: str, replace: bool) -> bool:
        with self._server("write"):
            return bool(self.client.set(self.PREFIX + assessment_id, text, nx=not replace))

    def delete(self, assessment_id: str) -> bool:
        with self._server("erase one of"):
            return bool(self.client.delete(self.PREFIX + assessment_id))

    def ids(self) -> list[str]:
        with self._server("list"):
            keys = self.client.scan_iter(match=self.PREFIX + "*", count=1000)
            names = (k.decode("utf-8", "replace") if isinstance(k, bytes) else k for k in keys)
            return sorted(name[len(self.PREFIX) :] for name in names)


class AssessmentStore:
    """Kept assessments: in ``directory`` (default ``DVRULES_ASSESSMENTS``, else the user data
    folder), one JSON file each; or in the Redis server ``url`` names (default: the one
    ``DVRULES_STORE`` names, when ``DVRULES_ASSESSMENTS`` does not name a folder)."""

    def __init__(self, directory: Path | str | None = None, *, url: str | None = None):
        if url is None and directory is None and not os.environ.get("DVRULES_ASSESSMENTS"):
            store = os.environ.get("DVRULES_STORE", "").strip()
            url = store if is_redis_url(store) else None
        self._kept: _Files | _Redis
        if url is not None:
            try:
                self._kept = _Redis(url)
            except StoreError as exc:
                raise AssessmentError(str(exc)) from None
            self.directory: Path | str = self._kept.where
        else:
            self.directory = Path(directory) if directory is not None else default_dir()
            self._kept = _Files(self.directory)
        self.damaged = 0  # assessments the last ``all()`` could not read

    @staticmethod
    def _check_id(assessment_id: str) -> str:
        if not ASSESSMENT_ID.fullmatch(assessment_id):
            raise AssessmentError(
                f"{assessment_id!r} is not an assessment id; ids look like "
                "cdrp-camden-2026-27 (see: dvrules assessments list)"
            )
        return assessment_id

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
        if not self._kept.write(
            self._check_id(kept.id), kept.model_dump_json(indent=2), replace=replace
        ):
            raise AssessmentError(
                f"{kept.id} is already kept; add --replace to overwrite it, or "
                f"delete it first with: dvrules assessments delete {kept.id}"
            )
        return kept

    def load(self, assessment_id: str) -> KeptAssessment:
        text = self._kept.read(self._check_id(assessment_id))
        if text is None:
            raise AssessmentError(
                f"{assessment_id}: no such kept assessment (see: dvrules assessments list)"
            )
        try:
            return KeptAssessment.model_validate_json(text)
        except ValidationError:
            raise AssessmentError(
                f"{assessment_id}: {self._kept.name(assessment_id)} is damaged; it was left as it is"
            ) from None

    def all(self) -> list[KeptAssessment]:
        """Every readable kept assessment, by flow, area and period (damaged ones skipped)."""
        out: list[KeptAssessment] = []
        self.damaged = 0
        for assessment_id in self._kept.ids():
            try:
                out.append(self.load(assessment_id))
            except AssessmentError:
                self.damaged += 1
        return sorted(out, key=lambda k: (k.flow, k.area.lower(), k.period))

    def delete(self, assessment_id: str) -> bool:
        return self._kept.delete(self._check_id(assessment_id))

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
