"""The peer benchmark's workload: one generated self-assessment, as data every engine reads.

A workload is a flow of ``levels`` levels of requirements in dvrules' knowledge schema
(``docs/knowledge-format.md``): yes/no tests, numeric thresholds (``at_least``, ``at_most``,
``more_than``, ``less_than``) on integers, counts and memberships on multiple choices
(``count_at_least``, ``includes``), ``all`` / ``any`` of two or three tests, and level chaining:
from level 2 on, some requirements join a requirement of the level below (``item``), and a
level is attained only when the level below is attained and every requirement of the level
is met (as dvrules' ``levels`` summary defines it).

Conditions are kept flat (one test, ``all``/``any`` of tests, or an item joined with a test) and
positive, so each peer engine can state every requirement the way its users would, without
negation (which several peers evaluate in arrival order).

Generation is seeded and deterministic, so every engine, each in its own process, rebuilds the
same workload from (rules, seed). Answer sets are complete (every question answered): a hidden
"model" answer set meets every requirement; each level asks its own third of the questions,
and each answer set changes some answers of the levels above a target level, so the sets
spread from every level attained to none.

The hand-written Python evaluator here is the baseline every engine is compared with, and the
reference its results are verified against.
"""

from __future__ import annotations

import hashlib
import json
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Answer = bool | int | list[str]
Answers = dict[str, Answer]
Condition = dict[str, Any]
# What every engine must give for one answer set: the requirements met (sorted ids) and the
# level attained.
Outcome = tuple[tuple[str, ...], int]

LEVELS = 3
PER_QUESTION = 4  # requirements per question
CHOICES = [f"c{n}" for n in range(6)]
FLOW = "bench"
SOURCE = {"document": "generated", "section": "generated"}
INT_OPS = ("at_least", "at_most", "more_than", "less_than")


@dataclass(frozen=True)
class Question:
    """A generated question: ``yes_no``, ``integer`` (0-100) or ``multi_choice`` (of CHOICES)."""

    id: str
    type: str


@dataclass(frozen=True)
class Requirement:
    """A generated requirement: its level and its condition (knowledge-schema data)."""

    id: str
    level: int
    when: Condition


@dataclass
class Workload:
    """Questions, requirements in dependency order, and the ids of each level."""

    rules: int
    seed: int
    questions: list[Question]
    requirements: list[Requirement]
    by_level: dict[int, list[str]] = field(default_factory=dict)
    model: Answers = field(default_factory=dict)

    @property
    def qtype(self) -> dict[str, str]:
        return {q.id: q.type for q in self.questions}


# ---------------------------------------------------------------------- generation


def _test(q: Question, model: Answers, rng: random.Random, true_under_model: bool) -> Condition:
    """One test of ``q``; true for the model answer when asked (else anything)."""
    v = model[q.id]
    if q.type == "yes_no":
        want = bool(v) if true_under_model else rng.random() < 0.5
        return {"answer": q.id, "is": want}
    if q.type == "integer":
        assert isinstance(v, int) and not isinstance(v, bool)
        op = rng.choice(INT_OPS)
        if not true_under_model:
            return {"answer": q.id, op: rng.randint(5, 95)}
        t: int | None
        if op == "at_least":
            t = rng.randint(max(0, v - 40), v)
        elif op == "at_most":
            t = rng.randint(v, min(100, v + 40))
        elif op == "more_than":
            t = rng.randint(max(0, v - 40), v - 1) if v > 0 else None
        else:
            t = rng.randint(v + 1, min(100, v + 40)) if v < 100 else None
        if t is None:  # no threshold strictly beyond the model answer: use the inclusive form
            op, t = ("at_least", v) if op == "more_than" else ("at_most", v)
        return {"answer": q.id, op: t}
    assert isinstance(v, list)
    if rng.random() < 0.5 and (v or not true_under_model):
        pick = rng.choice(v) if true_under_model else rng.choice(CHOICES)
        return {"answer": q.id, "includes": pick}
    top = len(v) if true_under_model else len(CHOICES)
    return {"answer": q.id, "count_at_least": rng.randint(min(1, top), max(1, top))}


def generate(rules: int, seed: int = 7) -> Workload:
    """A workload of ``rules`` requirements (and about one question per PER_QUESTION)."""
    rng = random.Random(f"peer:{rules}:{seed}")
    questions: list[Question] = []
    model: Answers = {}
    for i in range(max(8, rules // PER_QUESTION)):
        kind = rng.random()
        qid = f"q{i:05d}"
        if kind < 0.5:
            questions.append(Question(qid, "yes_no"))
            model[qid] = rng.random() < 0.7
        elif kind < 0.85:
            questions.append(Question(qid, "integer"))
            model[qid] = rng.randint(0, 100)
        else:
            questions.append(Question(qid, "multi_choice"))
            model[qid] = sorted(rng.sample(CHOICES, rng.randint(1, 5)))
    # Each level asks about its own questions (a third of them each), used in turn (a shuffled
    # cycle), so every question is tested about equally often and an answer set can meet one
    # level and miss the next.
    pools = {lv: questions[lv - 1 :: LEVELS] for lv in range(1, LEVELS + 1)}
    cycles: dict[int, list[Question]] = {lv: [] for lv in pools}

    def take(n: int, level: int) -> list[Question]:
        order = cycles[level]
        picked: list[Question] = []
        while len(picked) < n:
            if not order:
                order.extend(rng.sample(pools[level], len(pools[level])))
            q = order.pop()
            if all(q.id != p.id for p in picked):
                picked.append(q)
        return picked

    reqs: list[Requirement] = []
    by_level: dict[int, list[str]] = {lv: [] for lv in range(1, LEVELS + 1)}
    for j in range(rules):
        level = 1 + j * LEVELS // rules
        rid = f"bench.r{j:05d}"
        shape = rng.random()
        below = by_level.get(level - 1, [])
        when: Condition
        if below and shape < 0.2:  # level chaining: builds on a requirement of the level below
            when = {
                "all": [{"item": rng.choice(below)}, _test(take(1, level)[0], model, rng, True)]
            }
        elif shape < 0.55:
            when = _test(take(1, level)[0], model, rng, True)
        elif shape < 0.8:
            tests = take(rng.choice((2, 3)), level)
            when = {"all": [_test(q, model, rng, True) for q in tests]}
        else:
            a, b = take(2, level)
            when = {"any": [_test(a, model, rng, True), _test(b, model, rng, False)]}
        reqs.append(Requirement(rid, level, when))
        by_level[level].append(rid)
    return Workload(rules, seed, questions, reqs, by_level, model)


def answer_sets(w: Workload, count: int, seed: int = 11) -> list[Answers]:
    """``count`` complete answer sets: the model answers, with the questions of the levels
    above a target level (0 to 3, in turn) changed at some rate (up to one in two), and a few
    answers anywhere changed in one set in three, so results range over every level."""
    rng = random.Random(f"peer-answers:{w.rules}:{w.seed}:{seed}")
    rates = (0.3, 0.1, 0.03, 0.5)
    level_of = {q.id: 1 + n % LEVELS for n, q in enumerate(w.questions)}
    out: list[Answers] = []
    for n in range(count):
        target = n % (LEVELS + 1)
        rate = rates[(n // (LEVELS + 1)) % len(rates)]
        stray = 0.01 if n % 3 == 2 else 0.0
        answers: Answers = {}
        for q in w.questions:
            v = w.model[q.id]
            if rng.random() < (rate if level_of[q.id] > target else stray):
                if q.type == "yes_no":
                    v = not v
                elif q.type == "integer":
                    v = rng.randint(0, 100)
                else:
                    v = sorted(c for c in CHOICES if rng.random() < 0.4)
            answers[q.id] = v
        out.append(answers)
    return out


# ---------------------------------------------------------------------- the knowledge files


def knowledge(w: Workload) -> dict[str, Any]:
    """The workload as one dvrules knowledge file (YAML data)."""
    questions: list[dict[str, Any]] = []
    for q in w.questions:
        d: dict[str, Any] = {"id": q.id, "text": f"Generated question {q.id}?", "type": q.type}
        if q.type == "integer":
            d.update(min=0, max=100)
        elif q.type == "multi_choice":
            d["choices"] = [{"id": c, "label": f"Option {c}"} for c in CHOICES]
        d["source"] = SOURCE
        questions.append(d)
    return {
        "documents": [
            {"id": "generated", "title": "Generated benchmark knowledge", "publisher": "dvrules"}
        ],
        "flows": [
            {
                "id": FLOW,
                "title": f"Generated self-assessment with {w.rules} requirements",
                "questions": [q.id for q in w.questions],
                "summary": {"kind": "levels", "levels": LEVELS},
                "source": SOURCE,
            }
        ],
        "questions": questions,
        "requirements": [
            {
                "id": r.id,
                "flow": FLOW,
                "level": r.level,
                "title": f"Generated requirement {r.id}",
                "when": r.when,
                "next_step": "Generated next step.",
                "source": SOURCE,
            }
            for r in w.requirements
        ],
    }


def write_knowledge(w: Workload, directory: Path) -> Path:
    """Write the workload as a knowledge folder dvrules loads; returns the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(knowledge(w), sort_keys=False, width=120)
    (directory / "bench.yaml").write_text(text, encoding="utf-8")
    return directory


# ---------------------------------------------------------------------- the Python evaluator


def level_attained(w: Workload, met: set[str] | frozenset[str]) -> int:
    """The highest level attained: every requirement of it and of each level below met."""
    attained = 0
    for lv in range(1, LEVELS + 1):
        if not all(rid in met for rid in w.by_level[lv]):
            break
        attained = lv
    return attained


def outcome(w: Workload, met: set[str] | frozenset[str]) -> Outcome:
    """The comparable result of one evaluation: sorted met ids and the level attained."""
    return tuple(sorted(met)), level_attained(w, met)


Check = Callable[[Mapping[str, Answer], set[str]], bool]
COMPARE = {"at_least": operator.ge, "at_most": operator.le, "more_than": operator.gt}
COMPARE["less_than"] = operator.lt


def compile_condition(cond: Condition) -> Check:
    """A condition as a Python closure over (answers, requirements met so far)."""
    if "all" in cond or "any" in cond:
        parts = [compile_condition(c) for c in (cond["all"] if "all" in cond else cond["any"])]
        combine = all if "all" in cond else any
        return lambda a, met: combine(p(a, met) for p in parts)
    if "item" in cond:
        rid = cond["item"]
        return lambda a, met: rid in met
    q = cond["answer"]
    op, val = test_op(cond)
    if op == "is":
        return lambda a, met: a[q] is val
    if op == "includes":
        return lambda a, met: val in a[q]  # type: ignore[operator]
    if op == "count_at_least":
        return lambda a, met: len(a[q]) >= val  # type: ignore[arg-type]
    compare = COMPARE[op]
    return lambda a, met: bool(compare(a[q], val))


class PythonEvaluator:
    """The hand-written baseline: each requirement's condition compiled once into a closure,
    run in order (an item only refers to an earlier requirement), then the levels."""

    def __init__(self, w: Workload) -> None:
        self.w = w
        self.checks = [(r.id, compile_condition(r.when)) for r in w.requirements]

    def __call__(self, answers: Answers) -> Outcome:
        met: set[str] = set()
        for rid, check in self.checks:
            if check(answers, met):
                met.add(rid)
        return outcome(self.w, met)


def digest(outcomes: Sequence[Outcome]) -> str:
    """One short hash of every answer set's result, to compare engines across processes."""
    text = json.dumps([[list(m), lv] for m, lv in outcomes], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tests_of(cond: Condition) -> list[Condition]:
    """The answer tests and item references of a flat condition, in order."""
    if "all" in cond:
        return list(cond["all"])
    if "any" in cond:
        return list(cond["any"])
    return [cond]


def test_op(test: Condition) -> tuple[str, Any]:
    """The operator of an answer test and its operand."""
    for key, value in test.items():
        if key != "answer":
            return key, value
    raise ValueError(f"test without an operator: {test}")
