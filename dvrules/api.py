"""The typed Python API: assess answers, list questions, explain an item.

``DVRules`` ties the knowledge base, the rules engine and the result builders together. The
terminal, the bots and embedding applications all go through it (sessions through
``dvrules.interview``), so the same answers give the same result everywhere.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from dvrules.answers import Answer, AnswerError, allowed, build_facts, check_answers
from dvrules.conditions import evaluate, leaves, open_inputs, reachable_inputs
from dvrules.engine import Evaluation, evaluable, shared_engine, urgency_key
from dvrules.errors import UnknownItemError
from dvrules.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from dvrules.results import (
    RISK_BANDS,
    Explainer,
    Result,
    assessment_result,
    cite,
    referral_result,
)
from dvrules.schema import Criterion, ItemRef, Test


class ChoiceView(BaseModel):
    id: str
    label: str


class DefinitionView(BaseModel):
    id: str
    title: str
    text: str
    source: dict[str, Any]


class Progress(BaseModel):
    answered: int
    remaining: int  # questions still wanted given the answers so far


class QuestionView(BaseModel):
    """A question as a channel shows it."""

    id: str
    text: str
    type: Literal["yes_no", "number", "integer", "choice", "multi_choice"]
    choices: list[ChoiceView] = []
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    allowed: str
    help: str | None = None
    definition: DefinitionView | None = None
    source: dict[str, Any]
    progress: Progress | None = None


class DVRules:
    """One knowledge base, optionally with a local area's directory and thresholds."""

    def __init__(
        self, knowledge: KnowledgeBase | Path | str | None = None, area: str | None = None
    ):
        self.kb = knowledge if isinstance(knowledge, KnowledgeBase) else load_knowledge(knowledge)
        self.area = area
        self.params = self.kb.params(area)
        self.engine = shared_engine(self.kb, self.params)  # one per knowledge and parameters
        # Caches of what depends only on the knowledge (read-only once loaded and compiled).
        self._evaluable: dict[str, list[tuple[str, Any]]] = {}
        self._inputs: dict[tuple[str, str], list[str]] = {}
        self._ask_subjects: dict[str, tuple[str, ...] | None] = {}
        self._ask_results: dict[tuple[Any, ...], bool | None] = {}
        # Recent evaluations and wanted-question lists by flow and answers: a chat turn asks
        # for the next question more than once with the same answers (pure functions of them).
        self._recent: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._recent_lock = threading.Lock()

    # ------------------------------------------------------------------ answers -> facts

    def effective_answers(self, flow: str, answers: Mapping[str, Answer]) -> dict[str, Answer]:
        """Answers whose question is still asked: a later change can make one moot."""
        kept: dict[str, Answer] = {}
        known: dict[str, Answer] = {}  # what build_facts(kept) holds for answer ids
        for qid in self.kb.flow(flow).questions:
            if qid not in answers:
                continue
            q = self.kb.questions[qid]
            if q.ask_when is not None:
                # A condition on answers only reads what ``known`` holds; one on a derived
                # value needs the values computed.
                on_answers = self._answers_read(q) is not None
                facts = known if on_answers else build_facts(self.kb, flow, kept)
                if self._ask_when(q, facts) is False:
                    continue
            kept[qid] = answers[qid]
            if answers[qid] is not None:
                known[qid] = answers[qid]
        return kept

    def evaluate(
        self, flow: str, answers: Mapping[str, Answer]
    ) -> tuple[dict[str, Any], Evaluation]:
        _, facts, ev = self._evaluate(flow, answers)
        return facts, ev

    def _evaluate(
        self, flow: str, answers: Mapping[str, Answer]
    ) -> tuple[dict[str, Answer], dict[str, Any], Evaluation]:
        key = _answers_key("evaluate", flow, answers)
        hit = self._recall(key)
        if hit is not None:
            kept, facts, decided = hit
            return _copy(kept), _copy(facts), Evaluation(dict(decided))
        kept = self.effective_answers(flow, answers)
        facts = build_facts(self.kb, flow, kept)
        ev = self.engine.evaluate(flow, facts)
        self._remember(key, (_copy(kept), _copy(facts), dict(ev.decided)))
        return kept, facts, ev

    def _recall(self, key: tuple[Any, ...] | None) -> Any:
        if key is None:
            return None
        with self._recent_lock:
            hit = self._recent.get(key)
            if hit is not None:
                self._recent.move_to_end(key)
            return hit

    def forget_recent(self) -> None:
        """Drop every remembered evaluation: answers must not outlive an erased session."""
        with self._recent_lock:
            self._recent.clear()
            self._ask_results.clear()

    def _remember(self, key: tuple[Any, ...] | None, value: Any) -> None:
        if key is None:
            return
        with self._recent_lock:
            self._recent[key] = value
            while len(self._recent) > RECENT_EVALUATIONS:
                self._recent.popitem(last=False)

    def _answers_read(self, q: Any) -> tuple[str, ...] | None:
        """The answers a question's ``ask_when`` tests, or None if it tests a derived value."""
        if q.id not in self._ask_subjects:
            found = list(leaves(q.ask_when))
            self._ask_subjects[q.id] = (
                tuple(
                    dict.fromkeys(
                        leaf.answer
                        for leaf in found
                        if isinstance(leaf, Test) and leaf.answer is not None
                    )
                )
                if all(isinstance(leaf, ItemRef) or leaf.answer is not None for leaf in found)
                else None
            )
        return self._ask_subjects[q.id]

    def _ask_when(self, q: Any, facts: Mapping[str, Any]) -> bool | None:
        """``evaluate(q.ask_when, facts)``, remembered by the values of the answers it reads
        (item references in ``ask_when`` are always unknown here)."""
        subjects = self._answers_read(q)
        if subjects is None:
            return evaluate(q.ask_when, facts, self.params, _unknown)
        key = (q.id, *(_memo_key(facts.get(name, _ABSENT)) for name in subjects))
        try:
            return self._ask_results[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: not remembered
            return evaluate(q.ask_when, facts, self.params, _unknown)
        result = evaluate(q.ask_when, facts, self.params, _unknown)
        if len(self._ask_results) >= 4096:
            self._ask_results.clear()
        self._ask_results[key] = result
        return result

    def _conditions(self, flow: str) -> list[tuple[str, Any]]:
        if flow not in self._evaluable:
            self._evaluable[flow] = evaluable(self.kb, flow)
        return self._evaluable[flow]

    def _inputs_of(self, leaf: Any) -> list[str]:
        key = ("item", leaf.item) if isinstance(leaf, ItemRef) else ("value", leaf.subject)
        if key not in self._inputs:
            self._inputs[key] = self.kb.inputs_of(leaf)
        return list(self._inputs[key])

    # ------------------------------------------------------------------ public API

    def assess(self, flow: str, answers: Mapping[str, Any], *, checked: bool = False) -> Result:
        """The full result for a set of answers (JSON conventions; ``None`` = don't know).

        Raises ``AnswerError`` naming the first answer that does not fit its question.
        """
        self.kb.flow(flow)
        valid = dict(answers) if checked else check_answers(self.kb, flow, answers)
        kept, facts, ev = self._evaluate(flow, valid)
        ex = Explainer(self.kb, kept, facts, self.params, ev)
        if self.kb.flow(flow).summary.kind == "referral":
            # Partial answers give a provisional result: what already applies, at once.
            remaining = len(self.wanted_questions(flow, valid))
            return referral_result(self.kb, flow, ex, self.area, remaining)
        return assessment_result(self.kb, flow, ex)

    def questions(self, flow: str) -> list[QuestionView]:
        """Every question of a flow in asking order (not all are asked in every interview)."""
        return [self.question_view(qid) for qid in self.kb.flow(flow).questions]

    def question_view(self, qid: str, progress: Progress | None = None) -> QuestionView:
        q = self.kb.questions[qid]
        definition = None
        if q.definition:
            d = self.kb.definitions[q.definition]
            definition = DefinitionView(id=d.id, title=d.title, text=d.text, source=cite(d.source))
        return QuestionView(
            id=q.id,
            text=q.text,
            type=q.type,
            choices=[ChoiceView(id=c.id, label=c.label) for c in self.kb.choices(q)],
            unit=q.unit,
            min=q.min,
            max=q.max,
            allowed=allowed(self.kb, q),
            help=q.help,
            definition=definition,
            source=cite(q.source),
            progress=progress,
        )

    def wanted_questions(self, flow: str, answers: Mapping[str, Answer]) -> list[str]:
        """Unanswered questions that could still change the result, in asking order.

        For a referral flow: a referral, action or warning, an urgency, or the risk level (see
        ``_worth_asking``); for a self-assessment: any requirement or other outcome.
        """
        memo = _answers_key("wanted", flow, answers)
        remembered = self._recall(memo)
        if remembered is not None:
            return list(remembered)
        facts, ev = self.evaluate(flow, answers)
        wanted: set[str] = set()
        if self.kb.flow(flow).summary.kind == "referral":
            wanted = self._worth_asking(flow, answers, facts, ev)
        else:
            for key, cond in self._conditions(flow):
                if ev.status(key) is None:
                    wanted.update(open_inputs(cond, facts, self.params, ev.status, self._inputs_of))
        # A wanted question behind an undecided gate (``ask_when``) makes the gate wanted too.
        pending = list(wanted)
        while pending:
            gate = self.kb.questions[pending.pop()].ask_when
            if gate is None:
                continue
            for qid in open_inputs(gate, facts, self.params, _unknown, self.kb.inputs_of):
                if qid not in wanted:
                    wanted.add(qid)
                    pending.append(qid)
        out = []
        for qid in self.kb.flow(flow).questions:
            if qid in answers or qid not in wanted:
                continue
            q = self.kb.questions[qid]
            if q.ask_when is not None and self._ask_when(q, facts) is False:
                continue
            out.append(qid)
        self._remember(memo, tuple(out))
        return out

    def _worth_asking(
        self, flow: str, answers: Mapping[str, Answer], facts: Mapping[str, Any], ev: Evaluation
    ) -> set[str]:
        """Questions whose answer could still change a referral result: make a pathway, an
        action or a warning hold, raise a pathway's urgency (while the pathway can still hold
        and no earlier urgency rule holds), or raise the risk level above the band that holds.

        What is shown is what holds, so a question that could only rule out something not
        shown changes nothing. A "don't know" stays unknown: what rests on it cannot be
        reached through it. A gap, or a criterion on its own, is reported when known but is
        never worth a question.
        """
        kind = self.kb.outcome_kind
        held = [
            o.risk_level
            for o in self.kb.outcomes_of(flow, "criteria")
            if isinstance(o, Criterion) and o.risk_level and ev.status(o.id) is True
        ]
        top = max((RISK_BANDS.index(b) for b in held), default=-1)

        def askable(qid: str) -> bool:
            """Not answered yet (a "don't know" stays unknown) and not ruled out by its gate."""
            q = self.kb.questions[qid]
            return qid not in answers and (
                q.ask_when is None or self._ask_when(q, facts) is not False
            )

        def can_learn(subject: str) -> list[str] | None:
            if subject in self.kb.questions:
                return [subject] if askable(subject) else None
            free = [q for q in self._value_inputs(subject) if askable(q)]
            return free or None

        memo: dict[tuple[int, bool], list[str] | None] = {}

        def reach(cond: Any) -> list[str] | None:
            return reachable_inputs(
                cond,
                True,
                facts,
                self.params,
                ev.status,
                can_learn,
                lambda item: self.kb.outcomes[item].when,
                memo,
            )

        wanted: set[str] = set()
        for key, cond in self._conditions(flow):
            if ev.status(key) is not None:
                continue
            item_id, _, urgency = key.partition("#urgency")
            item = self.kb.outcomes[item_id]
            if urgency:
                if reach(item.when) is None or any(
                    ev.status(urgency_key(item_id, i)) is True for i in range(int(urgency))
                ):
                    continue
            elif kind[item_id] == "criteria":
                band = getattr(item, "risk_level", None)
                if band is None or RISK_BANDS.index(band) <= top:
                    continue
            elif kind[item_id] not in ("pathways", "actions", "warnings"):
                continue
            wanted.update(reach(cond) or ())
        return wanted

    def _value_inputs(self, name: str) -> list[str]:
        key = ("value", name)
        if key not in self._inputs:
            self._inputs[key] = self.kb.value_inputs(name)
        return self._inputs[key]

    def next_question(self, flow: str, answers: Mapping[str, Answer]) -> QuestionView | None:
        wanted = self.wanted_questions(flow, answers)
        if not wanted:
            return None
        answered = sum(1 for q in self.kb.flow(flow).questions if q in answers)
        return self.question_view(wanted[0], Progress(answered=answered, remaining=len(wanted)))

    def explain(self, flow: str, answers: Mapping[str, Any], item_id: str) -> dict[str, Any]:
        """Why one result item is as it is: its status, because, source and definitions."""
        valid = check_answers(self.kb, flow, answers)
        item = self.kb.outcomes.get(item_id)
        if item is None or item.flow != flow:
            raise UnknownItemError(f"{item_id}: no such item in flow {flow}")
        kept, facts, ev = self._evaluate(flow, valid)
        ex = Explainer(self.kb, kept, facts, self.params, ev)
        holds = ev.status(item_id)
        return {
            "id": item.id,
            "title": item.title,
            "kind": self.kb.outcome_kind[item.id],
            "holds": holds,
            "because": ex.because(item.when),
            "questions": ex.open_questions(item.when) if holds is None else [],
            "source": cite(item.source),
            "help": item.help,
            "definitions": [
                {
                    "id": d,
                    "title": self.kb.definitions[d].title,
                    "text": self.kb.definitions[d].text,
                    "source": cite(self.kb.definitions[d].source),
                }
                for d in item.definitions
            ],
        }


def _unknown(_item: str) -> None:
    return None


_ABSENT = object()
RECENT_EVALUATIONS = 256  # per DVRules; 0 turns the memo of recent evaluations off


def _answers_key(kind: str, flow: str, answers: Mapping[str, Answer]) -> tuple[Any, ...] | None:
    """A memo key for a whole answer set, or None when it cannot be one."""
    if not RECENT_EVALUATIONS:
        return None
    try:
        key = (kind, flow, *sorted((k, _memo_key(v)) for k, v in answers.items()))
        hash(key)
    except TypeError:  # an unhashable or unorderable answer: not remembered
        return None
    return key


def _copy(values: dict[str, Any]) -> dict[str, Any]:
    """A copy that shares no list with the memo (answers to multi-choice questions)."""
    return {k: list(v) if isinstance(v, list) else v for k, v in values.items()}


def _memo_key(value: Any) -> Any:
    """A value as part of a memo key: its type too (``True == 1``), lists as tuples."""
    return (type(value), tuple(value) if isinstance(value, list) else value)


@functools.lru_cache(maxsize=8)
def default_rules(area: str | None = None) -> DVRules:
    """A shared ``DVRules`` over the shipped knowledge (loaded and compiled once)."""
    return DVRules(area=area)


__all__ = ["DVRules", "QuestionView", "AnswerError", "KnowledgeError", "default_rules"]
