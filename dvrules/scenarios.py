"""Scenario files: answers in, expected outcomes out, one sentence-named case each.

Knowledge authors write them (``tests/scenarios/*.yaml``, see docs/knowledge-format.md); the
test suite collects them through a pytest plugin and ``dvrules kb test`` runs them. Loading is
strict, like the knowledge loader: an unknown key (``expect: {stauts: ...}``), a duplicate key
or an id that is not in the knowledge is an error naming the file and line, so a typo can never
turn a case into one that asserts nothing. A failing case reports every difference between what
it expects and what the rules give.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dvrules.answers import AnswerError
from dvrules.api import DVRules, default_rules
from dvrules.errors import DVRulesError
from dvrules.knowledge import KnowledgeBase, unique_key_loader

Status = Literal["met", "not_met", "unknown"]
STATUS_OF = {True: "met", False: "not_met", None: "unknown"}
_NONE = object()  # a result path that leads nowhere


class ScenarioError(DVRulesError):
    """A scenario file that cannot be read or does not fit the scenario format."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    """What a case expects; at least one check, so a case can never pass asserting nothing."""

    status: dict[str, Status] | None = None  # outcome id -> met / not_met / unknown
    summary: dict[str, Any] | None = None  # compared key by key
    result: dict[str, Any] | None = None  # dotted path into the JSON result -> value
    error: str | None = Field(default=None, min_length=1)  # answers refused with this text
    questions_asked: list[str] | None = None  # the interview's questions, in order
    asked: list[str] | None = None  # among the questions asked, whatever the order
    not_asked: list[str] | None = None

    def checks(self) -> list[str]:
        """The checks that assert something (an empty ``questions_asked`` does: none asked)."""
        return [
            k
            for k, v in self.model_dump().items()
            if v is not None and (v or k == "questions_asked")
        ]


class Scenario(_Strict):
    """One case: a sentence name, the answers (JSON conventions) and what to expect."""

    name: str = Field(min_length=1)
    answers: dict[str, Any] = {}
    expect: Expect
    person: str | None = None  # one of the people whose answers the questions benchmark replays
    area: str | None = None  # run with this local service directory


class ScenarioFile(_Strict):
    flow: str
    scenarios: list[Scenario] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    """A scenario with where it was written."""

    path: Path
    line: int
    flow: str
    scenario: Scenario

    @property
    def where(self) -> str:
        """``file:line``, the file relative to the working folder when it is below it."""
        try:
            shown = self.path.resolve().relative_to(Path.cwd())
        except ValueError:
            shown = self.path
        return f"{shown}:{self.line}"

    @property
    def name(self) -> str:
        return self.scenario.name


# ---------------------------------------------------------------------- loading


def _node_at(node: yaml.Node, loc: Iterable[int | str]) -> yaml.Node:
    """The deepest YAML node along a pydantic error location (for its line number)."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == part), None)
            if found is None:
                return node
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            return node
    return node


def _key_node(node: yaml.Node, loc: list[int | str]) -> yaml.Node:
    """For an unknown key, the key itself (its line is where the typo is)."""
    parent = _node_at(node, loc[:-1])
    if isinstance(parent, yaml.MappingNode):
        for k, _ in parent.value:
            if k.value == loc[-1]:
                key: yaml.Node = k
                return key
    return _node_at(node, loc)


def _describe(err: Any, where: list[int | str]) -> str:
    loc = ".".join(str(p) for p in where if not isinstance(p, int))
    if err["type"] == "extra_forbidden":
        return f"unknown key {loc!r}"
    if err["type"] == "missing":
        return f"missing key {loc!r}"
    return f"{loc or '(case)'}: {err['msg']}"


def load_file(path: Path, kb: KnowledgeBase | None = None) -> list[Case]:
    """Read one scenario file strictly; with ``kb``, also check every id it names exists."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=unique_key_loader())
        raw = yaml.load(text, Loader=unique_key_loader())  # noqa: S506 - SafeLoader subclass
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}{line}: not valid YAML: {exc}") from None
    if node is None or not isinstance(raw, dict):
        raise ScenarioError(f"{path}:1: a scenario file is a mapping with 'flow' and 'scenarios'")
    try:
        data = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = list(err["loc"])
            at = _key_node(node, loc) if err["type"] == "extra_forbidden" else _node_at(node, loc)
            name = ""
            if len(loc) >= 2 and loc[0] == "scenarios" and isinstance(loc[1], int):
                item = raw["scenarios"][loc[1]]
                if isinstance(item, dict) and item.get("name"):
                    name = f"scenario {item['name']!r}: "
                loc = loc[2:]
            problems.append(f"{path}:{at.start_mark.line + 1}: {name}{_describe(err, loc)}")
        raise ScenarioError("\n".join(problems)) from None
    items = _node_at(node, ["scenarios"])
    cases = [
        Case(path, items.value[i].start_mark.line + 1, data.flow, s)
        for i, s in enumerate(data.scenarios)
    ]
    if kb is not None:
        problems = [p for case in cases for p in reference_problems(case, kb)]
        if problems:
            raise ScenarioError("\n".join(problems))
    return cases


def reference_problems(case: Case, kb: KnowledgeBase) -> list[str]:
    """Ids a case names that the knowledge does not have (each would make a check vacuous)."""
    where = f"{case.where}: scenario {case.name!r}"
    if case.flow not in kb.flows:
        return [f"{case.path}:1: flow {case.flow!r} is not a flow; known: {', '.join(kb.flows)}"]
    s = case.scenario
    outcomes = {o.id for o in kb.outcomes_of(case.flow)}
    questions = set(kb.flows[case.flow].questions)
    problems = [
        f"{where}: expect.status: {item!r} is not an outcome of flow {case.flow}"
        for item in sorted(s.expect.status or {})
        if item not in outcomes
    ]
    for key in ("questions_asked", "asked", "not_asked"):
        problems += [
            f"{where}: expect.{key}: {qid!r} is not a question of flow {case.flow}"
            for qid in getattr(s.expect, key) or []
            if qid not in questions
        ]
    if s.area is not None and s.area not in kb.directories:
        problems.append(f"{where}: area {s.area!r} has no local directory")
    if not s.expect.checks():
        problems.append(f"{where}: expect has no check")
    return problems


def scenario_files(path: Path) -> list[Path]:
    """``path`` itself, or every ``*.yaml`` below it."""
    if path.is_dir():
        return sorted(path.rglob("*.yaml"))
    if not path.exists():
        raise ScenarioError(f"{path}: no such file or folder")
    return [path]


def load_all(path: Path, kb: KnowledgeBase | None = None) -> list[Case]:
    """Every case below ``path``; all load errors at once."""
    cases: list[Case] = []
    problems: list[str] = []
    for file in scenario_files(path):
        try:
            cases += load_file(file, kb)
        except ScenarioError as exc:
            problems.append(str(exc))
    if problems:
        raise ScenarioError("\n".join(problems))
    return cases


# ---------------------------------------------------------------------- running


def rules_for(case: Case) -> DVRules:
    return default_rules(case.scenario.area)


def differences(case: Case, rules: DVRules | None = None) -> list[str]:
    """Every way the rules' answer differs from what the case expects (empty: it passes)."""
    rules = rules or rules_for(case)
    flow, expect = case.flow, case.scenario.expect
    answers = dict(case.scenario.answers)
    if expect.error is not None:
        try:
            rules.assess(flow, answers)
        except AnswerError as exc:
            if expect.error in str(exc):
                return []
            return [f"error: expected a refusal containing {expect.error!r}, got {str(exc)!r}"]
        return [f"error: expected a refusal containing {expect.error!r}, got a result"]
    try:
        result = rules.assess(flow, answers).model_dump()
    except AnswerError as exc:
        return [f"the answers were refused: {exc}"]
    diffs: list[str] = []
    if expect.status:
        got = _statuses(rules, flow, answers, result)
        diffs += [
            f"status {item}: expected {want}, got {got.get(item)}"
            for item, want in expect.status.items()
            if got.get(item) != want
        ]
    for key, want in (expect.summary or {}).items():
        have = (result.get("summary") or {}).get(key, "(missing)")
        if have != want:
            diffs.append(f"summary {key}: expected {want!r}, got {have!r}")
    for dotted, want in (expect.result or {}).items():
        have = _pick(result, dotted)
        if have != want:
            diffs.append(f"result {dotted}: expected {want!r}, got {have!r}")
    if expect.questions_asked is not None or expect.asked or expect.not_asked:
        asked = _asked(rules, flow, answers)
        if expect.questions_asked is not None and asked != expect.questions_asked:
            diffs.append(f"questions_asked: expected {expect.questions_asked}, got {asked}")
        missing = [q for q in expect.asked or [] if q not in asked]
        if missing:
            diffs.append(f"asked: expected {missing} among the questions asked, got {asked}")
        extra = [q for q in expect.not_asked or [] if q in asked]
        if extra:
            diffs.append(f"not_asked: {extra} were asked ({asked})")
    return diffs


def _statuses(
    rules: DVRules, flow: str, answers: dict[str, Any], result: dict[str, Any]
) -> dict[str, str]:
    if flow != "referral" and "requirements" in result:
        got = {r["id"]: r["status"] for r in result.get("requirements", [])}
        got.update({r["id"]: r["status"] for r in result.get("monitoring") or []})
        return got
    evaluation = rules.evaluate(flow, rules.effective_answers(flow, answers))[1]
    return {o.id: STATUS_OF[evaluation.status(o.id)] for o in rules.kb.outcomes_of(flow)}


def _asked(rules: DVRules, flow: str, answers: dict[str, Any]) -> list[str]:
    """Replay an interview: answer each question asked from the case, "don't know" if absent."""
    given: dict[str, Any] = {}
    asked: list[str] = []
    while (q := rules.next_question(flow, given)) is not None and len(asked) < 500:
        asked.append(q.id)
        given[q.id] = answers.get(q.id)
    return asked


def _pick(result: dict[str, Any], dotted: str) -> Any:
    """``risk.level`` -> result['risk']['level']; ``referrals`` -> the list of referral ids;
    ``referrals.marac.contacts`` -> the contact ids of the referral whose id is ``marac``."""
    value: Any = result
    for part in dotted.split("."):
        if isinstance(value, list):
            value = next((v for v in value if isinstance(v, dict) and v.get("id") == part), _NONE)
        elif isinstance(value, dict):
            value = value.get(part, _NONE)
        else:
            value = _NONE
        if value is _NONE:
            return f"(no {part!r} in the result)"
    if isinstance(value, list) and value and isinstance(value[0], dict) and "id" in value[0]:
        return [v["id"] for v in value]
    return value


def run(cases: Iterable[Case], name: str | None = None) -> Iterator[tuple[Case, list[str]]]:
    """Run the cases whose name contains ``name`` (case-insensitive): each with its diffs."""
    for case in cases:
        if name is None or name.lower() in case.name.lower():
            yield case, differences(case)
