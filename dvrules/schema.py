"""The shape of knowledge: pydantic models for every item kind in ``knowledge/``.

The engine knows these shapes and nothing of the policy they carry. Every model forbids
unknown keys, so a typo in YAML is a load error that names the file and the item instead of a
silently ignored field. See ``docs/knowledge-format.md`` for the authoring guide.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DOTTED_ID = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
ANSWER_ID = r"^[a-z][a-z0-9_]*$"
CHOICE_ID = r"^[a-z0-9][a-z0-9_]*$"  # public choice ids such as 16_17 start with a digit


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --------------------------------------------------------------------------- sources


ISO_DATE = r"\d{4}-\d{2}-\d{2}"
PAGE_DATE = r"n\.d\.|c\.\d{4}|\d{4}(-\d{2}(-\d{2})?)?"  # the date a web page shows, if any
URL = r"(https?://|www\.)\S+"


def _iso_date(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(ISO_DATE, v):
        raise ValueError("last_reviewed is a date written YYYY-MM-DD")
    return v


class Source(Strict):
    """Where an item comes from: a document short id (see ``sources.yaml``) and a section.

    A fact taken from an outside fact sheet also names the page it was read at (``url``), the
    date that page shows (``date``) and when the fact was last checked (``last_reviewed``), so
    a reader can see how current it is.
    """

    document: str
    section: str = Field(min_length=1)
    footnote: int | None = None
    url: str | None = Field(default=None, pattern=f"^{URL}$")
    date: str | None = Field(default=None, pattern=f"^({PAGE_DATE})$")
    last_reviewed: str | None = None

    @field_validator("last_reviewed")
    @classmethod
    def _reviewed(cls, v: str | None) -> str | None:
        return _iso_date(v)

    def cite(self) -> str:
        text = f"{self.document}, {self.section}"
        if self.footnote is not None:
            text += f", footnote {self.footnote}"
        if self.url is not None:
            text += f", {self.url}" + (f" ({self.date})" if self.date else "")
        return text


class Document(Strict):
    """A cited document: one of the five seed documents, or an outside public source."""

    id: str = Field(pattern=ANSWER_ID)
    title: str
    publisher: str
    year: int | None = None
    seed_file: str | None = None  # file name in shared/seeds, for the five source documents
    url: str | None = None  # for outside public sources named in notes/domain.md
    # seed: one of the five documents; fact_sheet: a notes file of outside facts, each cited
    # with its own url and last_reviewed; outside: a public source; project_notes: our notes
    kind: Literal["seed", "fact_sheet", "outside", "project_notes"] = "outside"
    notes_file: str | None = None  # file name in shared/notes, for a fact sheet
    last_reviewed: str | None = None
    # what the notes do not give (no page address, no public source): said, never filled in
    note: str | None = None
    facts: list[str] = []  # the facts taken from an outside source, paraphrased

    @field_validator("last_reviewed")
    @classmethod
    def _reviewed(cls, v: str | None) -> str | None:
        return _iso_date(v)

    @model_validator(mode="after")
    def _kind_fits(self) -> Document:
        if (self.kind == "seed") != (self.seed_file is not None):
            raise ValueError("a seed document, and only one, names its seed_file")
        if (self.kind == "fact_sheet") != (self.notes_file is not None):
            raise ValueError("a fact_sheet document, and only one, names its notes_file")
        return self


# --------------------------------------------------------------------------- conditions
# A condition is a small tree evaluated with three-valued (Kleene) logic: true, false or
# unknown. Leaves test one answer, one computed value, or the status of another item.

Scalar = Union[bool, int, float, str]


class ParamRef(Strict):
    """A threshold that a local area may set (e.g. police call-outs for MARAC escalation)."""

    param: str


Threshold = Union[float, ParamRef]


class Test(Strict):
    """A leaf: compares one answer (``answer``) or computed value (``value``) with a threshold."""

    answer: str | None = None
    value: str | None = None
    is_: Scalar | None = Field(default=None, alias="is")
    in_: list[str] | None = Field(default=None, alias="in")
    at_least: Threshold | None = None
    at_most: Threshold | None = None
    more_than: Threshold | None = None
    less_than: Threshold | None = None
    count_at_least: int | None = None  # multi_choice: at least N options chosen
    includes: str | None = None  # multi_choice: this option chosen

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    @model_validator(mode="after")
    def _one_subject_one_test(self) -> Test:
        if (self.answer is None) == (self.value is None):
            raise ValueError("a test names exactly one of 'answer' or 'value'")
        ops = [k for k in self.operators() if getattr(self, k) is not None]
        if len(ops) != 1:
            raise ValueError(
                "a test has exactly one of is, in, at_least, at_most, more_than, "
                "less_than, count_at_least, includes"
            )
        return self

    @staticmethod
    def operators() -> tuple[str, ...]:
        return (
            "is_",
            "in_",
            "at_least",
            "at_most",
            "more_than",
            "less_than",
            "count_at_least",
            "includes",
        )

    @property
    def subject(self) -> str:
        return self.answer if self.answer is not None else self.value  # type: ignore[return-value]

    @property
    def op(self) -> str:
        return next(k for k in self.operators() if getattr(self, k) is not None)

    @property
    def operand(self) -> Any:
        return getattr(self, self.op)


class ItemRef(Strict):
    """A leaf that is true when another item (requirement, criterion, ...) holds."""

    item: str


class All(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


class Not(Strict):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


Condition = Union[Test, ItemRef, All, AnyOf, Not]
All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


# --------------------------------------------------------------------------- questions


class Choice(Strict):
    id: str = Field(pattern=CHOICE_ID)
    label: str
    source: Source | None = None


class ChoiceList(Strict):
    """A named list of options, e.g. the 18 strategic plans, shared by questions."""

    id: str = Field(pattern=DOTTED_ID)
    title: str
    items: list[Choice] = Field(min_length=1)
    source: Source


QuestionType = Literal["yes_no", "number", "integer", "choice", "multi_choice"]


class Question(Strict):
    """Something a person is asked. Its ``id`` is the public answer id."""

    id: str = Field(pattern=ANSWER_ID)
    text: str
    short: str | None = None  # a few words naming the answer, used in "because" sentences
    type: QuestionType
    choices: list[Choice] | None = None
    choices_from: str | None = None  # id of a ChoiceList
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    help: str | None = None
    definition: str | None = None  # id of a Definition shown beside the question
    ask_when: Condition | None = None  # asked only when this is not false
    prefill: str | None = None  # "FLOW.summary_key": taken from that flow's result when known
    source: Source

    @model_validator(mode="after")
    def _choices_fit_type(self) -> Question:
        wants = self.type in ("choice", "multi_choice")
        has = self.choices is not None or self.choices_from is not None
        if wants != has:
            raise ValueError(f"a {self.type} question {'needs' if wants else 'takes no'} choices")
        if self.choices is not None and self.choices_from is not None:
            raise ValueError("give choices or choices_from, not both")
        return self


class DerivedValue(Strict):
    """A number computed from answers (e.g. refuge places per 10,000 population)."""

    id: str = Field(pattern=ANSWER_ID)
    title: str
    op: Literal["rate", "count_true", "coalesce", "sum", "shortfall"]
    of: list[str] = Field(min_length=1)  # answer or value ids
    per: float | None = None  # rate: of[0] / of[1] * per
    # shortfall: how far of[0] falls below a yardstick of ``target`` per ``per`` of of[1],
    # i.e. max(0, target x of[1] / per - of[0]) (posts or cases missing against guidance)
    target: float | None = None
    decimals: int | None = None
    source: Source


# --------------------------------------------------------------------------- outcomes


class Outcome(Strict):
    """Anything the rules derive: shared fields of every outcome kind."""

    id: str = Field(pattern=DOTTED_ID)
    flow: str
    title: str
    when: Condition
    help: str | None = None
    notes: str | None = None
    definitions: list[str] = []  # ids of Definitions that explain the item
    source: Source


class Requirement(Outcome):
    """A standard to meet in a self-assessment (met / not met / unknown)."""

    level: int | None = None  # CDRP level 1-3
    next_step: str
    scored: bool = True  # false: monitored and reported beside the summary, not inside it
    # left out of the result (not counted, no gap) when this is false, e.g. a recommendation
    # for another lead agency than the one the assessment is for
    applies_when: Condition | None = None
    group: str | None = None  # a heading the result counts requirements under (e.g. an aim)


class Criterion(Outcome):
    """A risk criterion that holds or not.

    ``marac: true`` marks one of the MARAC referral criteria (the result lists the last part of
    the id, e.g. ``visible_high_risk``); ``risk_level`` marks a band: the result's risk level is
    the highest band whose criterion holds.
    """

    marac: bool = False
    risk_level: Literal["standard", "medium", "high"] | None = None


class UrgencyRule(Strict):
    urgency: Literal["immediate", "today", "routine"]
    when: Condition


class Pathway(Outcome):
    """A referral route that applies when ``when`` holds."""

    urgency: Literal["immediate", "today", "routine"] = "routine"
    urgency_rules: list[UrgencyRule] = []  # first that holds wins; else ``urgency``
    contacts: list[str] = []  # Contact ids
    services: list[str] = []  # service kinds matched against local directories
    find_local: str | None = None  # how to find the local service when no directory names one
    do_now: str | None = None  # a short imperative for the result's first screen (else: title)
    consent: str | None = None
    order: int = 100


class Action(Outcome):
    """An immediate safety action for the practitioner."""

    order: int = 100


class Warning(Outcome):
    """A caution where a common response would be unsafe."""

    because: str


class Gap(Outcome):
    """Something still missing, with the step that closes it."""

    next_step: str


class Contact(Strict):
    """A national service with a contact the sources give (never invented)."""

    id: str = Field(pattern=DOTTED_ID)
    name: str
    phone: str | None = None
    url: str | None = None
    serves: str
    source: Source
    last_reviewed: str | None = None  # ISO date the current fact was checked
    source_statement: str | None = None  # what the old document said, when it has changed
    source_statement_source: Source | None = None

    @field_validator("last_reviewed")
    @classmethod
    def _reviewed(cls, v: str | None) -> str | None:
        return _iso_date(v)


class Parameter(Strict):
    """A named threshold with a default that a local service directory may override."""

    id: str = Field(pattern=DOTTED_ID)
    title: str
    value: float
    source: Source


class Definition(Strict):
    """A definition or footnote, paraphrased, with where it comes from."""

    id: str = Field(pattern=DOTTED_ID)
    title: str
    text: str
    kind: Literal["core", "vawg_form", "service", "footnote", "other"] = "other"
    source: Source
    last_reviewed: str | None = None

    @field_validator("last_reviewed")
    @classmethod
    def _reviewed(cls, v: str | None) -> str | None:
        return _iso_date(v)


class RetiredAnswer(Strict):
    """A public answer id that is no longer asked: an answers file using it is refused with a
    message naming what replaced it."""

    id: str = Field(pattern=ANSWER_ID)
    flow: str
    replaced_by: list[str] = Field(min_length=1)
    note: str
    source: Source


class GlossaryEntry(Strict):
    id: str = Field(pattern=DOTTED_ID)
    term: str
    meaning: str
    source: Source


# --------------------------------------------------------------------------- flows


class Summary(Strict):
    """How a flow's headline is computed from its scored requirements."""

    kind: Literal["count", "score", "levels", "referral"]
    decimals: int = 1  # score: N = met / total x 100, rounded half up
    levels: int | None = None  # levels: how many
    score_value: str | None = None  # referral: the value holding the checklist score
    notice: str | None = None  # a Definition shown with every result (e.g. judgement first)
    consent_source: Source | None = None  # referral: where the consent rule stated once comes from


# The figures each summary kind gives (``results.py`` builds them): what a question's
# ``prefill: FLOW.key`` may name.
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "levels": ("level_attained", "level_possible"),
    "score": ("yes", "total", "score", "unknown", "score_max"),
    "count": ("met", "total"),
    "referral": (),
}


class Flow(Strict):
    """A guided interview and the result it produces."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    intro: str | None = None
    questions: list[str] = Field(min_length=1)  # asking order
    summary: Summary
    source: Source


class Manifest(Strict):
    """``knowledge/manifest.yaml``: the knowledge's one version, and a digest of every other
    knowledge file, so a change to the knowledge cannot go out without a new version (a test
    compares the digest and checks knowledge/CHANGELOG.md has an entry for the version)."""

    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")  # semver: see knowledge/CHANGELOG.md
    content_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class KnowledgeFile(Strict):
    """One YAML file in ``knowledge/``: any of these top-level keys (the version is kept only
    in ``manifest.yaml``)."""

    documents: list[Document] = []
    flows: list[Flow] = []
    questions: list[Question] = []
    lists: list[ChoiceList] = []
    values: list[DerivedValue] = []
    requirements: list[Requirement] = []
    criteria: list[Criterion] = []
    pathways: list[Pathway] = []
    actions: list[Action] = []
    warnings: list[Warning] = []
    gaps: list[Gap] = []
    contacts: list[Contact] = []
    definitions: list[Definition] = []
    glossary: list[GlossaryEntry] = []
    parameters: list[Parameter] = []
    retired: list[RetiredAnswer] = []


# --------------------------------------------------------------------------- local directories


class LocalContact(Strict):
    """How to reach a local service: only details the cited document gives."""

    phone: str | None = None
    email: str | None = None
    url: str | None = None
    address: str | None = None
    note: str | None = None


class LocalService(Strict):
    id: str = Field(pattern=DOTTED_ID)
    name: str
    does: str
    serves: str
    services: list[str] = Field(min_length=1)  # kinds matched against Pathway.services
    contact: LocalContact | None = None
    source: Source


class Directory(Strict):
    """A borough's own services (``knowledge/directories/AREA.yaml``), chosen with --area."""

    area: str = Field(pattern=ANSWER_ID)
    name: str
    source: Source
    parameters: dict[str, float] = {}  # overrides of Parameter defaults, each cited in notes
    parameters_source: Source | None = None
    services: list[LocalService] = []


OUTCOME_KINDS: dict[str, type[Outcome]] = {
    "requirements": Requirement,
    "criteria": Criterion,
    "pathways": Pathway,
    "actions": Action,
    "warnings": Warning,
    "gaps": Gap,
}
