"""The durable_rules path agrees with the plain-Python reference evaluator on random answers.

Answers are drawn around every threshold the knowledge uses (at, just below, just above),
with "don't know" and unanswered mixed in, for every flow.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvrules import DVRules
from dvrules.conditions import leaves, threshold
from dvrules.reference import reference_evaluate
from dvrules.schema import Question
from dvrules.schema import Test as LeafTest


def _thresholds(rules: DVRules) -> dict[str, set[float]]:
    found: dict[str, set[float]] = {}
    conds = [o.when for o in rules.kb.outcomes.values()]
    conds += [q.ask_when for q in rules.kb.questions.values() if q.ask_when is not None]
    for cond in conds:
        for leaf in leaves(cond):
            if isinstance(leaf, LeafTest) and leaf.op in (
                "at_least",
                "at_most",
                "more_than",
                "less_than",
                "count_at_least",
            ):
                found.setdefault(leaf.subject, set()).add(
                    float(threshold(leaf.operand, rules.params))
                )
    return found


def _value(rules: DVRules, q: Question, near: set[float]) -> st.SearchStrategy[Any]:
    if q.type == "yes_no":
        return st.booleans()
    if q.type in ("number", "integer"):
        lo = q.min if q.min is not None else 0
        hi = q.max if q.max is not None else 100_000
        points = {lo, hi}
        for t in near:
            points |= {t - 1, t, t + 1} if q.type == "integer" else {t - 0.01, t, t + 0.01}
        points = sorted(p for p in points if lo <= p <= hi)
        if q.type == "integer":
            return st.sampled_from([int(p) for p in points]) | st.integers(
                int(lo), int(min(hi, 10**6))
            )
        return st.sampled_from(points) | st.floats(lo, hi, allow_nan=False)
    ids = [c.id for c in rules.kb.choices(q)]
    if q.type == "choice":
        return st.sampled_from(ids)
    return st.lists(st.sampled_from(ids), unique=True)


def _answers(rules: DVRules, flow: str) -> st.SearchStrategy[dict[str, Any]]:
    near = _thresholds(rules)
    # q2's rate divides refuge places by population: also aim numerators at the rate's boundary
    fields = {}
    for qid in rules.kb.flow(flow).questions:
        q = rules.kb.questions[qid]
        fields[qid] = st.one_of(
            st.just("absent"), st.none(), _value(rules, q, near.get(qid, set()))
        )
    return st.fixed_dictionaries(fields).map(
        lambda d: {k: v for k, v in d.items() if v != "absent"}
    )


def _check(rules: DVRules, flow: str, answers: dict[str, Any]) -> None:
    facts, by_engine = rules.evaluate(flow, answers)
    by_reference = reference_evaluate(rules.kb, flow, facts, rules.params)
    assert by_engine.decided == by_reference.decided


FLOWS = ["minimum-standards", "cdrp", "bvpi225", "referral"]


@pytest.mark.parametrize("flow", FLOWS)
def test_engine_agrees_with_the_reference_evaluator(rules: DVRules, flow: str) -> None:
    if flow not in rules.kb.flows:
        pytest.skip(f"no {flow} flow in this knowledge base")

    @settings(
        max_examples=600,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_answers(rules, flow))
    def check(answers: dict[str, Any]) -> None:
        _check(rules, flow, answers)

    check()
