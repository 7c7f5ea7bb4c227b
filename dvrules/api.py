"""The typed Python API: assess answers, list questions, explain an item.

``DVRules`` ties the knowledge base, the rules engine and the result builders together. The
terminal, the bots and embedding applications all go through it (sessions through
``dvrules.interview``), so the same answers give the same result everywhere.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from dvrules.answers import Answer, AnswerError, allowed, build_facts, check_answers
from dvrules.conditions import evaluate, leaves, open_inputs
from dvrules.engine import Evaluation, RulesEngine, evaluable
from dvrules.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from dvrules.schema import ItemRef
from dvrules.results import Explainer, Result, assessment_result, cite, referral_result


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

    def __init__(self, knowledge: KnowledgeBase | Path | str | None = None,
                 area: str | None = None):
        self.kb = knowledge if isinstance(knowledge, KnowledgeBase) else load_knowledge(knowledge)
        self.area = area
        self.params = self.kb.params(area)
        self.engine = RulesEngine(self.kb, self.params)
        # Caches of what depends only on the knowledge (read-only once loaded and compiled).
        self._evaluable: dict[str, list[tuple[str, Any]]] = {}
        self._inputs: dict[tuple[str, str], list[str]] = {}
        self._ask_when_on_answers: dict[str, bool] = {}

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
                facts = known if self._on_answers(q) else build_facts(self.kb, flow, kept)
                if evaluate(q.ask_when, facts, self.params, _unknown) is False:
                    continue
            kept[qid] = answers[qid]
            if answers[qid] is not None:
                known[qid] = answers[qid]
        return kept

    def evaluate(self, flow: str, answers: Mapping[str, Answer]) -> tuple[dict[str, Any], Evaluation]:
        _, facts, ev = self._evaluate(flow, answers)
        return facts, ev

    def _evaluate(self, flow: str, answers: Mapping[str, Answer]
                  ) -> tuple[dict[str, Answer], dict[str, Any], Evaluation]:
        kept = self.effective_answers(flow, answers)
        facts = build_facts(self.kb, flow, kept)
        return kept, facts, self.engine.evaluate(flow, facts)

    def _on_answers(self, q: Any) -> bool:
        """Whether a question's ``ask_when`` tests answers (and item references) only."""
        if q.id not in self._ask_when_on_answers:
            self._ask_when_on_answers[q.id] = all(
                isinstance(leaf, ItemRef) or leaf.answer is not None for leaf in leaves(q.ask_when))
        return self._ask_when_on_answers[q.id]

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
            return referral_result(self.kb, flow, ex, self.area)
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
            id=q.id, text=q.text, type=q.type,
            choices=[ChoiceView(id=c.id, label=c.label) for c in self.kb.choices(q)],
            unit=q.unit, min=q.min, max=q.max, allowed=allowed(self.kb, q), help=q.help,
            definition=definition, source=cite(q.source), progress=progress)

    def wanted_questions(self, flow: str, answers: Mapping[str, Answer]) -> list[str]:
        """Unanswered questions that could still change an outcome, in asking order."""
        facts, ev = self.evaluate(flow, answers)
        wanted: set[str] = set()
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
            if q.ask_when is not None and evaluate(q.ask_when, facts, self.params, _unknown) is False:
                continue
            out.append(qid)
        return out

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
            raise KnowledgeError(f"{item_id}: no such item in flow {flow}")
        kept, facts, ev = self._evaluate(flow, valid)
        ex = Explainer(self.kb, kept, facts, self.params, ev)
        holds = ev.status(item_id)
        return {
            "id": item.id, "title": item.title, "kind": self.kb.outcome_kind[item.id],
            "holds": holds, "because": ex.because(item.when),
            "questions": ex.open_questions(item.when) if holds is None else [],
            "source": cite(item.source), "help": item.help,
            "definitions": [{"id": d, "title": self.kb.definitions[d].title,
                             "text": self.kb.definitions[d].text,
                             "source": cite(self.kb.definitions[d].source)}
                            for d in item.definitions],
        }


def _unknown(_item: str) -> None:
    return None


@functools.lru_cache(maxsize=8)
def default_rules(area: str | None = None) -> DVRules:
    """A shared ``DVRules`` over the shipped knowledge (loaded and compiled once)."""
    return DVRules(area=area)


__all__ = ["DVRules", "QuestionView", "AnswerError", "KnowledgeError", "default_rules"]
