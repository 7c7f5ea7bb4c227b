"""What the HTTP API sends and accepts beyond the library's own models.

Results, questions and definitions are the library's pydantic models (``Result``,
``QuestionView``, ``DefinitionView``), so the OpenAPI document describes exactly what
``DVRules`` returns in Python. The request models here are checked after the body has been
read by ``dvrules.answers.parse_json_bytes`` (the answers file's limits), never before.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dvrules.api import DefinitionView, QuestionView
from dvrules.results import AssessmentResult, ContactResult, ReferralResult

JSONAnswer = bool | int | float | str | list[str] | None


class ErrorBody(BaseModel):
    """Every refusal: a short code a program can test, and one line for a person."""

    error: str = Field(description="what kind of refusal, e.g. bad_answer, unauthorized")
    detail: str = Field(description="one line for a person, naming the answer id when there is one")
    answer_id: str | None = Field(
        default=None, description="the answer (question) id the refusal is about, if any"
    )


class FlowView(BaseModel):
    """A flow (a guided interview and the result it produces)."""

    id: str
    title: str
    kind: Literal["count", "score", "levels", "referral"]
    intro: str | None = None
    questions: int = Field(description="how many questions it has (not all are always asked)")
    source: dict[str, Any]


class Explanation(BaseModel):
    """Why one result item is as it is (``DVRules.explain``)."""

    id: str
    title: str
    kind: str
    holds: bool | None = Field(description="true: holds (met); false: does not; null: unknown")
    because: list[str]
    questions: list[str] = Field(description="the questions that would decide it, when unknown")
    source: dict[str, Any]
    help: str | None = None
    definitions: list[DefinitionView]


class Danger(BaseModel):
    """Shown first, before any further question: the person is in immediate danger."""

    text: str = Field(description="call 999 now, and how to call when you cannot speak")
    contact: ContactResult | None = Field(
        default=None, description="the 999 contact (phone, how to call silently, source)"
    )


class InterviewProgress(BaseModel):
    answered: int
    dont_know: int
    remaining: int = Field(description="questions still worth asking given the answers so far")
    prefilled: list[str] = Field(description="answers copied from an earlier flow's result")


class Turn(BaseModel):
    """The interview after one turn: show ``danger`` first when it is there, then the
    ``question`` (null when the interview is finished), or the ``result``."""

    flow: str
    emergency: str = Field(description="always shown: in immediate danger, call 999")
    danger: Danger | None = None
    question: QuestionView | None = None
    revisiting: str | None = Field(
        default=None, description="the answered question being looked at again after back"
    )
    progress: InterviewProgress
    finished: bool
    result: AssessmentResult | ReferralResult | None = Field(
        default=None, description="when finished, or asked for (provisional while unfinished)"
    )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRequest(_Request):
    flow: str = Field(description="the flow to start or resume (GET /v1/flows lists them)")


class AnswerRequest(_Request):
    """Give ``answer`` (a JSON value as in an answers file) or ``text`` (typed words, as in a
    chat: "yes", "3", "don't know"), not both."""

    question: str
    answer: JSONAnswer = None
    text: str | None = Field(default=None, max_length=1000)
    flow: str | None = Field(default=None, description="default: the session's current flow")


class SkipRequest(_Request):
    question: str
    flow: str | None = None


class BackRequest(_Request):
    flow: str | None = None


class KeptView(BaseModel):
    """A kept self-assessment, without its answers."""

    id: str
    flow: str
    area: str
    period: str
    role: str | None = None
    knowledge_version: str
    saved: float


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    knowledge_version: str
