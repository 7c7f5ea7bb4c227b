"""Incremental evaluation: live engine sessions extended one answer at a time give exactly what a
fresh evaluation gives, after any sequence of answers, "back" and changed answers.

Three evaluators are compared at every step: the shared engine (live sessions, extended when
the answers grow, rebuilt otherwise), a plain engine (a fresh session per call, answers
asserted one at a time, as before live sessions) and the plain-Python reference evaluator.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvrules import DVRules
from dvrules.answers import build_facts
from dvrules.engine import RulesEngine, fnv1a_32
from dvrules.reference import reference_evaluate

from .test_crosscheck import FLOWS, _thresholds, _value


@pytest.fixture(scope="module")
def plain(rules: DVRules) -> RulesEngine:
    return RulesEngine(rules.kb, rules.params, incremental=False, batch=False)


def _steps(rules: DVRules, flow: str) -> st.SearchStrategy[list[tuple[str, str, Any]]]:
    """A conversation: answer a question (new or again: a change), or go back one answer."""
    near = _thresholds(rules)
    qids = rules.kb.flow(flow).questions
    answer = st.sampled_from(qids).flatmap(
        lambda qid: st.tuples(
            st.just("answer"),
            st.just(qid),
            st.none() | _value(rules, rules.kb.questions[qid], near.get(qid, set())),
        )
    )
    back = st.tuples(st.just("back"), st.just(""), st.none())
    return st.lists(st.one_of(answer, answer, answer, back), min_size=1, max_size=40)


@pytest.mark.parametrize("flow", FLOWS)
def test_a_live_session_gives_what_a_fresh_evaluation_gives_after_any_conversation(
    rules: DVRules, plain: RulesEngine, flow: str
) -> None:
    if flow not in rules.kb.flows:
        pytest.skip(f"no {flow} flow in this knowledge base")

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_steps(rules, flow))
    def check(steps: list[tuple[str, str, Any]]) -> None:
        answers: dict[str, Any] = {}
        order: list[str] = []
        for kind, qid, value in steps:
            if kind == "back":
                if order:
                    answers.pop(order.pop())
            else:
                if qid in answers:
                    order.remove(qid)
                answers[qid] = value
                order.append(qid)
            facts, live = rules.evaluate(flow, answers)
            assert live.decided == plain.evaluate(flow, facts).decided
            assert live.decided == reference_evaluate(rules.kb, flow, facts, rules.params).decided

    check()


def test_one_more_answer_extends_the_live_session_instead_of_starting_one(
    rules: DVRules,
) -> None:
    engine = RulesEngine(rules.kb, rules.params, live_sessions=8)
    answers: dict[str, Any] = {}
    engine.evaluate("cdrp", build_facts(rules.kb, "cdrp", answers))
    for qid, value in [
        ("advocacy_service_independent", True),
        ("advocates_fte", 3),
        ("councillor_dv_lead", False),
    ]:
        answers[qid] = value
        engine.evaluate("cdrp", build_facts(rules.kb, "cdrp", answers))
    # one conversation, one session: each answer was asserted into the same live session
    assert len(engine.live_session_ids()) == 1
    sid = engine.live_session_ids()[0]
    stored = engine.stored_facts("cdrp", sid)
    assert {f["q"] for f in stored if f["t"] == "answer"} == {
        "advocacy_service_independent",
        "advocates_fte",
        "councillor_dv_lead",
    }
    # a changed answer is never asserted over the old one: a new session holds the new set
    answers["advocates_fte"] = 0
    engine.evaluate("cdrp", build_facts(rules.kb, "cdrp", answers))
    new = [s for s in engine.live_session_ids() if s != sid]
    assert len(new) == 1
    values = {f["q"]: f["v"] for f in engine.stored_facts("cdrp", new[0]) if f["t"] == "answer"}
    assert values["advocates_fte"] == 0


def test_two_conversations_interleaved_never_share_a_session(rules: DVRules) -> None:
    engine = RulesEngine(rules.kb, rules.params, live_sessions=8)
    a: dict[str, Any] = {}
    b: dict[str, Any] = {"councillor_dv_lead": True}
    for n in range(1, 6):
        a["advocates_fte"] = n  # a changes its answer each turn; b adds one each turn
        b[
            [
                "advocacy_service_independent",
                "full_time_advocate_post",
                "survivor_consultation_evidence",
            ][n % 3]
        ] = True
        for answers in (a, b):
            facts = build_facts(rules.kb, "cdrp", answers)
            got = engine.evaluate("cdrp", facts).decided
            assert got == reference_evaluate(rules.kb, "cdrp", facts, rules.params).decided


def test_session_ids_never_share_durable_rules_hash() -> None:
    # FNV-1a, 32 bits, as durable_rules' fnv1Hash32 (published test vectors)
    assert fnv1a_32("") == 0x811C9DC5
    assert fnv1a_32("a") == 0xE40C292C
    assert fnv1a_32("foobar") == 0xBF9CF968


def test_an_id_whose_hash_is_taken_is_skipped(rules: DVRules) -> None:
    engine = RulesEngine(rules.kb, rules.params, live_sessions=2)
    taken = engine._new_sid("cdrp")
    engine._hashes.add(fnv1a_32("s2"))  # as if s2 hashed like a live id
    assert engine._new_sid("cdrp") == "s3"
    assert taken == "s1"


def test_the_session_cap_is_never_reached_over_many_conversations(rules: DVRules) -> None:
    engine = RulesEngine(rules.kb, rules.params, live_sessions=16)
    for n in range(1200):  # more than durable_rules' 1,024 sessions per ruleset
        answers = {"advocates_fte": n % 97, "councillor_dv_lead": n % 2 == 0}
        facts = build_facts(rules.kb, "cdrp", answers)
        assert (
            engine.evaluate("cdrp", facts).decided
            == reference_evaluate(rules.kb, "cdrp", facts, rules.params).decided
        )
    assert len(engine.live_session_ids()) <= 16
    assert len(engine._hashes) <= 16
