"""A generated knowledge base of N rules in the shipped schema, to show how cost grows with size.

N counts engine rules (compiled durable_rules rules, as in the issue's peer comparison); each
requirement compiles to two or more (one proving it holds, one proving it fails, more for
alternatives). The generated flow ``bench`` has about one question per six requirements
(yes/no, integer, choice and multi-choice in the proportions of the real flows); half the
requirements are a single test, the rest ``all`` / ``any`` of two or three tests, and one in ten
joins an earlier requirement (``item``), sometimes negated, so derived facts chain. Every
subject is used about equally often, which keeps each answer fact within durable_rules' limit
on the alpha-network branches one fact may match.

durable_rules itself caps a ruleset at 4,096 rules (error 106), and an alpha node at about 512
children: beyond that ``create_ruleset`` never returns. So one flow cannot hold much more than
4,000 engine rules or about 500 distinct answer subjects.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

SOURCE = {"document": "generated", "section": "generated"}


def _question(i: int) -> dict[str, Any]:
    qid = f"q{i:05d}"
    kind = i % 20
    q: dict[str, Any] = {"id": qid, "text": f"Generated question {i}?", "source": SOURCE}
    if kind < 12:
        q["type"] = "yes_no"
    elif kind < 17:
        q.update(type="integer", min=0, max=100)
    elif kind < 19:
        q.update(type="choice", choices=[{"id": f"c{n}", "label": f"Option {n}"} for n in range(4)])
    else:
        q.update(
            type="multi_choice", choices=[{"id": f"m{n}", "label": f"Option {n}"} for n in range(6)]
        )
    return q


def _test(q: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    qid = q["id"]
    if q["type"] == "yes_no":
        return {"answer": qid, "is": rng.random() < 0.8}
    if q["type"] == "integer":
        op = rng.choice(["at_least", "at_most", "more_than", "less_than"])
        return {"answer": qid, op: rng.randint(1, 99)}
    ids = [c["id"] for c in q["choices"]]
    if q["type"] == "choice":
        if rng.random() < 0.5:
            return {"answer": qid, "is": rng.choice(ids)}
        return {"answer": qid, "in": rng.sample(ids, 2)}
    if rng.random() < 0.5:
        return {"answer": qid, "includes": rng.choice(ids)}
    return {"answer": qid, "count_at_least": rng.randint(1, 4)}


def generate(rules: int, seed: int = 7, per_question: int = 8) -> dict[str, Any]:
    """The YAML document (as data) of a knowledge base with ``rules`` requirements."""
    rng = random.Random(seed)
    questions = [_question(i) for i in range(max(8, rules // per_question))]
    cursor = 0

    def next_test() -> dict[str, Any]:
        nonlocal cursor
        q = questions[cursor % len(questions)]
        cursor += 1
        return _test(q, rng)

    requirements = []
    for j in range(rules):
        shape = j % 10
        when: dict[str, Any]
        if shape < 5:
            when = next_test()
        elif shape < 8:
            when = {"all": [next_test() for _ in range(2 + j % 2)]}
        elif shape == 8 or j < 10:
            when = {"any": [next_test(), next_test()]}
        else:
            ref: dict[str, Any] = {"item": f"bench.r{rng.randrange(max(1, j - 50), j):05d}"}
            if rng.random() < 0.3:
                ref = {"not": ref}
            when = {"all": [ref, next_test()]}
        requirements.append(
            {
                "id": f"bench.r{j:05d}",
                "flow": "bench",
                "title": f"Generated rule {j}",
                "when": when,
                "next_step": "Generated next step.",
                "source": SOURCE,
            }
        )
    return {
        "documents": [
            {
                "id": "generated",
                "title": "Generated benchmark knowledge",
                "publisher": "dvrules benchmarks",
            }
        ],
        "flows": [
            {
                "id": "bench",
                "title": f"Generated flow with {rules} rules",
                "questions": [q["id"] for q in questions],
                "summary": {"kind": "count"},
                "source": SOURCE,
            }
        ],
        "questions": questions,
        "requirements": requirements,
    }


def write(directory: Path, engine_rules: int, seed: int = 7) -> dict[str, int]:
    """Write a knowledge base that compiles to about ``engine_rules`` durable_rules rules.

    Requirements are generated, compiled, and the longest prefix within the target kept (an
    ``item`` only refers to an earlier requirement, so any prefix is valid knowledge).
    Returns the counts: knowledge rules (requirements), engine rules and questions.
    """
    from dvrules.engine import compile_flow
    from dvrules.knowledge import load_knowledge

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.yaml"
    data = generate(max(10, engine_rules // 2), seed)  # about 2.7 engine rules each
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
    kb = load_knowledge(directory)
    per_item: dict[str, int] = {}
    for name in compile_flow(kb, "bench", kb.params()):
        key = name.split("|")[0]
        per_item[key] = per_item.get(key, 0) + 1
    kept, total = [], 0
    for req in data["requirements"]:
        if total + per_item[req["id"]] > engine_rules:
            break
        kept.append(req)
        total += per_item[req["id"]]
    data["requirements"] = kept
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
    return {
        "knowledge_rules": len(kept),
        "engine_rules": total,
        "questions": len(data["questions"]),
    }
