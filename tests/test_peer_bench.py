"""The peer benchmark's verification keeps working: dvrules, durable_rules used plainly and the
hand-written Python evaluator give identical results on the generated workload, each in its own
process, and a wrong engine is caught rather than timed.

No timing is asserted: figures depend on the machine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import peer, peer_engines
from benchmarks.peer_workload import (
    LEVELS,
    PythonEvaluator,
    Workload,
    answer_sets,
    generate,
    outcome,
    write_knowledge,
)
from dvrules.knowledge import load_knowledge

QUICK = peer.settings(quick=True)


def test_default_engines_agree_on_every_answer_set(tmp_path: Path) -> None:
    results, found = peer.run_all(True, tmp_path, peer_engines.DEFAULT_ENGINES, QUICK["sizes"])
    assert found == []
    assert [r["engine"] for r in results] == list(peer_engines.DEFAULT_ENGINES)
    for r in results:
        assert r["status"] == "ok", r
        assert r["digest"] == r["expected_digest"]
        assert r["sets"] == QUICK["sets"]
    assert len({r["digest"] for r in results}) == 1
    table = (tmp_path / "peer.md").read_text(encoding="utf-8")
    assert table.count(f"identical on {QUICK['sets']} sets") == len(results)


def test_answer_sets_reach_every_level_and_dvrules_loads_the_workload(tmp_path: Path) -> None:
    w = generate(100)
    evaluate = PythonEvaluator(w)
    levels = {evaluate(a)[1] for a in answer_sets(w, QUICK["sets"])}
    assert levels == set(range(LEVELS + 1))
    assert any("item" in t for r in w.requirements for t in r.when.get("all", []))
    kb = load_knowledge(write_knowledge(w, tmp_path))
    assert len(kb.outcomes_of("bench")) == 100


def test_a_wrong_engine_fails_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    def misses_one(w: Workload) -> peer_engines.Runner:
        right = PythonEvaluator(w)
        return lambda answers: outcome(w, set(right(answers)[0][1:]))

    monkeypatch.setitem(
        peer_engines.ENGINES, "wrong", (misses_one, "", "an engine that misses one requirement")
    )
    r = peer.worker("wrong", 100, 4, 1, 0.01)
    assert r["status"] == "wrong"
    assert "4 of 4 answer sets differ" in r["reason"]
    assert peer.problems([r]) == [f"wrong at 100 rules: {r['reason']}"]


def test_engines_whose_results_differ_between_processes_fail_the_run() -> None:
    def ok(engine: str, digest: str) -> dict[str, object]:
        return {"engine": engine, "rules": 100, "status": "ok", "sets": 4} | {
            "digest": digest,
            "expected_digest": "same",
        }

    assert peer.problems([ok("python", "same"), ok("durable-plain", "same")]) == []
    found = peer.problems([ok("python", "same"), ok("durable-plain", "other")])
    assert len(found) == 1 and found[0].startswith("100 rules: engines' result digests differ")
