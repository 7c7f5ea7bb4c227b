"""Part 1: full evaluation of every flow, against the plain-Python reference evaluator, and on
generated knowledge bases of growing size."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dvrules.api as dvrules_api
from benchmarks import genkb
from benchmarks.common import Figure, Section, answer_pool, latency_stats, settle, time_calls
from dvrules import DVRules
from dvrules.answers import build_facts
from dvrules.engine import compile_flow
from dvrules.knowledge import load_knowledge
from dvrules.reference import reference_evaluate


def calls_for(fn: Callable[[], Any], budget_s: float, lo: int, hi: int) -> int:
    """How many calls of ``fn`` fit in about ``budget_s`` seconds (within ``lo``..``hi``)."""
    t0 = time.perf_counter()
    for _ in range(3):
        fn()
    each = (time.perf_counter() - t0) / 3
    return int(min(hi, max(lo, budget_s / each if each else hi)))


class _Cycle:
    """Calls ``fn`` on the answer sets in turn, so every set is evaluated equally often."""

    def __init__(self, fn: Callable[[Any], Any], items: list[Any]):
        self.fn, self.items, self.i = fn, items, 0

    def __call__(self) -> Any:
        item = self.items[self.i % len(self.items)]
        self.i += 1
        return self.fn(item)


def measure_flow(
    rules: DVRules,
    flow: str,
    repeats: int,
    pool_size: int,
    budget_s: float,
    with_assess: bool = True,
) -> dict[str, Any]:
    """Per-repeat statistics of each way of evaluating ``flow``, measured side by side.

    The memo of recent evaluations (``dvrules.api.RECENT_EVALUATIONS``) and the engine's live
    sessions (which answer the same answers again without asserting anything) are off
    meanwhile: the same answer sets come round again and again here, and the point is what
    evaluating costs.
    """
    saved = dvrules_api.RECENT_EVALUATIONS
    dvrules_api.RECENT_EVALUATIONS = 0
    incremental = rules.engine.incremental
    rules.engine.incremental = False
    try:
        return _measure_flow(rules, flow, repeats, pool_size, budget_s, with_assess)
    finally:
        dvrules_api.RECENT_EVALUATIONS = saved
        rules.engine.incremental = incremental


def _measure_flow(
    rules: DVRules, flow: str, repeats: int, pool_size: int, budget_s: float, with_assess: bool
) -> dict[str, Any]:
    kb, params = rules.kb, rules.params
    pool = answer_pool(kb, flow, params, pool_size)
    facts = [build_facts(kb, flow, rules.effective_answers(flow, a)) for a in pool]
    disagree = sum(
        1
        for f in facts
        if rules.engine.evaluate(flow, f).decided != reference_evaluate(kb, flow, f, params).decided
    )
    decided = sum(len(rules.engine.evaluate(flow, f).decided) for f in facts) / len(facts)
    ways: dict[str, Callable[[], Any]] = {
        "full": _Cycle(lambda a: rules.evaluate(flow, a), pool),
        "engine": _Cycle(lambda f: rules.engine.evaluate(flow, f), facts),
        "reference": _Cycle(lambda f: reference_evaluate(kb, flow, f, params), facts),
    }
    if with_assess:
        ways["assess"] = _Cycle(lambda a: rules.assess(flow, a, checked=True), pool)
    counts = {name: calls_for(fn, budget_s, 30, 2000) for name, fn in ways.items()}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, fn in ways.items():  # interleaved: every repeat measures each way once
            settle()
            runs[name].append(latency_stats(time_calls(fn, counts[name])))
    ratio = [e["p50_ms"] / r["p50_ms"] for e, r in zip(runs["engine"], runs["reference"])]
    speed = [r["per_s"] / e["per_s"] for e, r in zip(runs["engine"], runs["reference"])]
    out: dict[str, Any] = {
        "answer_sets": len(pool),
        "disagreements": disagree,
        "decided_per_eval": decided,
        "calls_per_run": counts,
        "ref_faster_p50": Figure.of(ratio).as_dict(),
        "ref_faster_per_s": Figure.of(speed).as_dict(),
    }
    for name, stats in runs.items():
        out[name] = {
            key: Figure.of(s[key] for s in stats).as_dict() for key in ("p50_ms", "p99_ms", "per_s")
        }
    return out


def _fig(d: dict[str, Any]) -> Figure:
    return Figure(d["median"], d["min"], d["max"], d["runs"], d.get("unit", ""))


def run(rules: DVRules, quick: bool) -> list[Section]:
    repeats = 2 if quick else 7
    pool_size = 6 if quick else 24
    budget = 0.02 if quick else 0.25

    flows = Section("engine", "1. Engine: full evaluation of each flow from a complete answer set")
    flows.columns = [
        "flow",
        "questions",
        "items",
        "engine rules",
        "evaluate p50 ms",
        "evaluate p99 ms",
        "evaluations/s",
        "engine only p50 ms",
        "engine only /s",
        "reference /s",
        "reference ÷ engine speed",
        "assess p50 ms",
        "assess p99 ms",
    ]
    for flow in rules.kb.flows:
        m = measure_flow(rules, flow, repeats, pool_size, budget)
        engine_rules = len(compile_flow(rules.kb, flow, rules.params))
        m.update(
            questions=len(rules.kb.flow(flow).questions),
            items=len(rules.kb.outcomes_of(flow)),
            engine_rules=engine_rules,
        )
        flows.data[flow] = m
        flows.rows.append(
            [
                flow,
                str(m["questions"]),
                str(m["items"]),
                str(engine_rules),
                _fig(m["full"]["p50_ms"]).text(),
                _fig(m["full"]["p99_ms"]).text(),
                _fig(m["full"]["per_s"]).text(),
                _fig(m["engine"]["p50_ms"]).text(),
                _fig(m["engine"]["per_s"]).text(),
                _fig(m["reference"]["per_s"]).text(),
                _fig(m["ref_faster_per_s"]).text(1) + "×",
                _fig(m["assess"]["p50_ms"]).text(),
                _fig(m["assess"]["p99_ms"]).text(),
            ]
        )
        if m["disagreements"]:
            flows.notes.append(
                f"**{flow}: the engine and the reference evaluator disagreed on "
                f"{m['disagreements']} of {m['answer_sets']} answer sets.**"
            )
    flows.notes += [
        "*evaluate* is `DVRules.evaluate(flow, answers)`: moot answers dropped, derived values "
        "computed, the rules run in a fresh engine session. *engine only* is "
        "`RulesEngine.evaluate` on prepared facts, and *reference* the plain-Python "
        "`reference_evaluate` on the same facts in the same run; the ratio is how many times "
        "faster the reference is. *assess* is the full result with explanations and sources.",
        f"Answer sets: per flow the most and least favourable complete sets and random valid "
        f"ones ({pool_size} in all; numbers cluster around the flow's thresholds), cycled. "
        "Engine and reference agreed on every set unless a line above says otherwise.",
    ]
    if "cdrp" in flows.data:
        m = flows.data["cdrp"]
        p99, per_s = _fig(m["full"]["p99_ms"]), _fig(m["full"]["per_s"])
        flows.check("cdrp full evaluation p99", "< 5 ms", f"{p99.text()} ms", p99.median < 5)
        flows.check("cdrp evaluations per second", ">= 2,000", per_s.text(), per_s.median >= 2000)

    growth = Section("engine_growth", "1b. Engine: cost growth with generated knowledge bases")
    growth.columns = [
        "engine rules",
        "items",
        "questions",
        "load + validate s",
        "compile s",
        "engine only p50 ms",
        "p99 ms",
        "evaluations/s",
        "µs per rule",
        "reference ÷ engine speed",
        "p50 ÷ smallest",
    ]
    sizes = [50, 100] if quick else [100, 500, 2000]
    base: list[float] | None = None
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-kb-") as tmp:
        for size in sizes:
            where = Path(tmp) / str(size)
            counts = genkb.write(where, size)
            t0 = time.perf_counter()
            kb = load_knowledge(where)
            t1 = time.perf_counter()
            big = DVRules(kb)
            t2 = time.perf_counter()
            m = measure_flow(big, "bench", repeats, 4 if quick else 12, budget, with_assess=False)
            p50s = [m["engine"]["p50_ms"]["median"]]
            if base is None:
                base = p50s
            m.update(counts, load_s=t1 - t0, compile_s=t2 - t1)
            growth.data[str(size)] = m
            p50 = _fig(m["engine"]["p50_ms"])
            growth.rows.append(
                [
                    str(counts["engine_rules"]),
                    str(counts["knowledge_rules"]),
                    str(counts["questions"]),
                    f"{t1 - t0:.2f}",
                    f"{t2 - t1:.2f}",
                    p50.text(),
                    _fig(m["engine"]["p99_ms"]).text(),
                    _fig(m["engine"]["per_s"]).text(),
                    f"{p50.median * 1000 / counts['engine_rules']:.2f}",
                    _fig(m["ref_faster_per_s"]).text(1) + "×",
                    f"{p50.median / base[0]:.1f}×",
                ]
            )
            if m["disagreements"]:
                growth.notes.append(
                    f"**{size} rules: engine and reference disagreed on "
                    f"{m['disagreements']} answer sets.**"
                )
            del big, kb
    growth.notes += [
        "Generated knowledge (`benchmarks/genkb.py`) in the shipped schema: requirements shaped "
        "like the real ones (single tests, all/any of two or three, one in ten joining an earlier "
        "requirement). *engine rules* are compiled durable_rules rules (each requirement gives "
        "two or more: holds, fails, one per alternative); load and compile are one-off costs at "
        "start. Each evaluation asserts every answer and derives every requirement, so the "
        "work grows with the rules; *p50 ÷ smallest* shows how. It grows faster than the rule "
        "count (*µs per rule* rises) because durable_rules' own calls slow down as the ruleset "
        "grows: profiled, completing an action and fetching the next takes 0.8 µs at 100 rules "
        "and 4.8 µs at 2,000 (it scans every rule of the ruleset, `getNextResultInState` in "
        "its `state.c`), asserting one answer 3 and 12.5 µs. Part of an evaluation is thus "
        "quadratic in the number of rules: several smaller flows cost less than one huge one.",
        "durable_rules caps one ruleset at 4,096 rules (error 106) and an alpha node at about "
        "512 children (more and `create_ruleset` never returns), so a single flow cannot grow "
        "much past 4,000 engine rules or about 500 answer subjects.",
    ]
    return [flows, growth]
