"""The durable_rules edges in shared/notes/durable-rules.md, each shown neutralised.

Every test drives the real durable_rules engine; small knowledge bases are written to a
temporary folder where an edge needs a rule the shipped knowledge does not have.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from dvrules import AnswerError, DVRules, KnowledgeError
from dvrules.answers import build_facts
from dvrules.engine import EngineError, RulesEngine
from dvrules.knowledge import load_knowledge

from .conftest import extreme_answers

SOURCE = {"document": "ldvs2", "section": "Level one"}


def _write_kb(tmp_path: Path, outcomes: list[dict[str, Any]], n_questions: int = 3) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "sources.yaml").write_text(
        yaml.safe_dump({"documents": [{"id": "ldvs2", "title": "t", "publisher": "p"}]})
    )
    questions = [
        {"id": f"q{i}", "text": f"Question {i}?", "type": "yes_no", "source": SOURCE}
        for i in range(n_questions)
    ]
    (root / "flow.yaml").write_text(
        yaml.safe_dump(
            {
                "flows": [
                    {
                        "id": "demo",
                        "title": "Demo",
                        "questions": [q["id"] for q in questions],
                        "summary": {"kind": "count"},
                        "source": SOURCE,
                    }
                ],
                "questions": questions,
                "requirements": [
                    {"flow": "demo", "next_step": "Do it.", "source": SOURCE, **o} for o in outcomes
                ],
            }
        )
    )
    return root


def test_more_evaluations_than_the_1024_session_cap_never_exhaust_the_engine(
    rules: DVRules,
) -> None:
    answers = extreme_answers(rules, "cdrp", best=True)
    facts = build_facts(rules.kb, "cdrp", answers)
    first = rules.engine.evaluate("cdrp", facts).decided
    for _ in range(1500):  # each evaluation deletes its session, so the cap is never reached
        assert rules.engine.evaluate("cdrp", facts).decided == first


def test_two_chats_answers_never_mix_even_when_interleaved(rules: DVRules) -> None:
    generous = extreme_answers(rules, "cdrp", best=True)
    sparse = {"advocacy_service_independent": False, "councillor_dv_lead": True}
    alone_a = rules.assess("cdrp", generous).model_dump()
    alone_b = rules.assess("cdrp", sparse).model_dump()
    for _ in range(50):
        assert rules.assess("cdrp", generous).model_dump() == alone_a
        assert rules.assess("cdrp", sparse).model_dump() == alone_b


def test_an_exception_inside_a_rule_action_is_raised_not_swallowed(rules: DVRules) -> None:
    class Failing(RulesEngine):
        def _on_action(self, key: str, holds: bool) -> bool:
            raise RuntimeError("boom")

    engine = Failing(rules.kb, rules.params)
    facts = build_facts(rules.kb, "minimum-standards", {"staff_training": True})
    with pytest.raises(EngineError, match="boom"):
        engine.evaluate("minimum-standards", facts)


def test_answers_no_rule_looks_at_are_accepted_without_error(tmp_path: Path) -> None:
    kb = load_knowledge(
        _write_kb(tmp_path, [{"id": "r.one", "title": "One", "when": {"answer": "q0", "is": True}}])
    )
    rules = DVRules(kb)
    result = rules.assess("demo", {"q1": True, "q2": False})  # q1, q2 feed no rule
    assert result.requirements[0].status == "unknown"


def test_two_ways_of_proving_one_outcome_yield_it_once(tmp_path: Path) -> None:
    kb = load_knowledge(
        _write_kb(
            tmp_path,
            [
                {"id": "r.base", "title": "Base", "when": {"answer": "q0", "is": True}},
                {
                    "id": "r.either",
                    "title": "Either",
                    "when": {"any": [{"item": "r.base"}, {"answer": "q1", "is": True}]},
                },
            ],
        )
    )
    rules = DVRules(kb)
    result = rules.assess("demo", {"q0": True, "q1": True})  # both alternatives fire
    assert [r.status for r in result.requirements] == ["met", "met"]


def test_a_string_never_reaches_a_numeric_comparison(rules: DVRules) -> None:
    with pytest.raises(AnswerError, match="advocates_fte"):
        rules.assess("cdrp", {"advocates_fte": "abc"})
    with pytest.raises(AnswerError, match="councillor_dv_lead"):
        rules.assess("cdrp", {"councillor_dv_lead": 1})  # 1 is not yes


def test_two_knowledge_bases_coexist_and_start_no_background_threads(tmp_path: Path) -> None:
    before = threading.active_count()
    kb = load_knowledge(
        _write_kb(tmp_path, [{"id": "r.one", "title": "One", "when": {"answer": "q0", "is": True}}])
    )
    first, second = DVRules(kb), DVRules(kb)  # same ruleset names, separate private hosts
    assert first.assess("demo", {"q0": True}).summary == {"met": 1, "total": 1}
    assert second.assess("demo", {"q0": False}).summary == {"met": 0, "total": 1}
    assert threading.active_count() == before


def test_a_rule_joining_more_than_sixteen_facts_is_refused_at_load(tmp_path: Path) -> None:
    outcomes = [
        {"id": f"r.part{i}", "title": f"P{i}", "when": {"answer": "q0", "is": True}}
        for i in range(17)
    ]
    outcomes.append(
        {
            "id": "r.all",
            "title": "All",
            "when": {"all": [{"item": f"r.part{i}"} for i in range(17)]},
        }
    )
    with pytest.raises(KnowledgeError, match="r.all"):
        DVRules(load_knowledge(_write_kb(tmp_path, outcomes)))


def test_negation_does_not_depend_on_the_order_answers_arrive(tmp_path: Path) -> None:
    kb = load_knowledge(
        _write_kb(
            tmp_path,
            [
                {"id": "r.gate", "title": "Gate", "when": {"answer": "q0", "is": True}},
                {
                    "id": "r.unless",
                    "title": "Unless",
                    "when": {"all": [{"answer": "q1", "is": True}, {"not": {"item": "r.gate"}}]},
                },
            ],
        )
    )
    rules = DVRules(kb)
    forward = rules.assess("demo", {"q0": True, "q1": True})
    backward = rules.assess("demo", {"q1": True, "q0": True})
    assert [r.status for r in forward.requirements] == ["met", "not_met"]
    assert forward.model_dump() == backward.model_dump()


def test_a_changed_answer_leaves_no_stale_outcome(rules: DVRules) -> None:
    met = rules.assess("minimum-standards", {"staff_training": True})
    changed = rules.assess("minimum-standards", {"staff_training": False})
    status = {r.id: r.status for r in changed.requirements}
    assert {r.id: r.status for r in met.requirements}["ms.staff_training"] == "met"
    assert status["ms.staff_training"] == "not_met"


def test_concurrent_threads_get_the_same_results_as_one_thread(rules: DVRules) -> None:
    sets = [
        extreme_answers(rules, "cdrp", best=True),
        {"advocacy_service_independent": True, "advocates_fte": 3},
        {"arrest_rate_percent": 64.9},
        {},
    ]
    expected = [rules.assess("cdrp", a).model_dump() for a in sets]
    wrong: list[int] = []

    def worker(index: int) -> None:
        for _ in range(40):
            if rules.assess("cdrp", sets[index]).model_dump() != expected[index]:
                wrong.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(sets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_a_whole_partnership_with_every_service_fits_the_engines_limits(rules: DVRules) -> None:
    """Every outcome holding at once once overflowed durable_rules' 64-node alpha stack."""
    result = rules.assess("cdrp", extreme_answers(rules, "cdrp", best=True))
    assert result.summary["level_attained"] == 3
    assert all(lv.percent == 100.0 for lv in result.levels or [])


def test_a_fact_left_waiting_in_a_join_never_crashes_the_process() -> None:
    """durable_rules' delete_state double-frees when one half of a join is stored; the engine
    retracts its facts instead. A crash would kill the interpreter, so run it in a child."""
    code = (
        "from dvrules import DVRules\n"
        "r = DVRules()\n"
        "for _ in range(200):\n"
        "    r.assess('cdrp', {'advocacy_service_independent': True})\n"
        "    r.assess('cdrp', {'advocates_fte': 3})\n"
        "    r.assess('bvpi225', {'refuge_places': 4})\n"
        "print('survived')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "survived"


def test_the_engine_keeps_a_bounded_set_of_session_ids_and_empties_the_ones_it_drops(
    rules: DVRules,
) -> None:
    engine = RulesEngine(rules.kb, rules.params, live_sessions=4)
    sets = [{"advocacy_service_independent": True, "advocates_fte": n} for n in range(0, 30, 2)] + [
        {"councillor_dv_lead": flag, "advocates_fte": 1} for flag in (True, False)
    ]
    for answers in sets * 3:
        engine.evaluate("cdrp", build_facts(rules.kb, "cdrp", answers))
        assert len(engine.live_session_ids()) <= 4
    assert len(engine._hashes) <= 4  # every id ever used on this host: dropped ids are reused
    engine.incremental = False  # a fresh session, dropped at once
    engine.evaluate("cdrp", build_facts(rules.kb, "cdrp", {"advocates_fte": 99}))
    [dropped] = engine._free["cdrp"]
    assert dropped not in engine.live_session_ids()
    assert engine.stored_facts("cdrp", dropped) == []  # emptied by retraction


def test_a_flow_testing_more_answers_than_the_engine_can_index_is_refused(tmp_path: Path) -> None:
    """Past about 512 answers in one flow durable_rules never returns from building the
    ruleset; the compiler refuses first, naming the flow."""
    n = 481
    outcomes = [
        {"id": f"r.q{i}", "title": f"Q{i}", "when": {"answer": f"q{i}", "is": True}}
        for i in range(n)
    ]
    with pytest.raises(KnowledgeError, match="flow demo: tests 481 answers"):
        DVRules(load_knowledge(_write_kb(tmp_path, outcomes, n_questions=n)))
