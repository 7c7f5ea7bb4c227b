"""One runner per engine for the peer benchmark, each written the way that engine's users would.

Every builder takes a ``Workload`` and returns a function from one complete answer set to its
``Outcome`` (the requirements met and the level attained). Each engine derives which
requirements are met, item references (level chaining) included; the level attained is then
read from the met set by the workload's ``level_attained``, as dvrules' own levels summary
does after its rules settle (``dvrules assess`` computes its levels itself).

Peers are imported inside their builder: only the engine being measured is loaded in a
worker process, and a peer that is not installed is reported, not fatal to the others.
"""

from __future__ import annotations

import collections
import collections.abc
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.peer_workload import (
    FLOW,
    Answers,
    Condition,
    Outcome,
    PythonEvaluator,
    Workload,
    outcome,
    test_op,
    tests_of,
)

Runner = Callable[[Answers], Outcome]


def referenced_items(w: Workload) -> set[str]:
    """Requirements another requirement joins (only these need a derived 'met' fact)."""
    return {t["item"] for r in w.requirements for t in tests_of(r.when) if "item" in t}


# ---------------------------------------------------------------------- baseline and dvrules


def python_evaluator(w: Workload) -> Runner:
    return PythonEvaluator(w)


def _dvrules(w: Workload) -> Any:
    import dvrules.api as dvrules_api
    from benchmarks.peer_workload import write_knowledge
    from dvrules import DVRules

    # The same answer sets come round again and again here; measure evaluating, not the memo.
    dvrules_api.RECENT_EVALUATIONS = 0
    folder = Path(tempfile.mkdtemp(prefix="dvrules-peer-kb-"))
    return DVRules(write_knowledge(w, folder))


def _engine_rules(rules: Any) -> dict[str, int]:
    """How many durable_rules rules dvrules compiled the workload into (when it says)."""
    try:
        from dvrules.engine import compile_flow

        return {"compiled_rules": len(compile_flow(rules.kb, FLOW, rules.params))}
    except Exception:  # noqa: BLE001 - a detail of the report, never a reason to fail
        return {}


def dvrules_assess(w: Workload) -> Runner:
    """``DVRules.assess``: the public result (answers validated, statuses, levels, gaps)."""
    rules = _dvrules(w)

    def run(answers: Answers) -> Outcome:
        result = rules.assess(FLOW, answers)
        met = tuple(r.id for r in result.requirements if r.status == "met")
        return tuple(sorted(met)), int(result.summary["level_attained"])

    run.info = _engine_rules(rules)  # type: ignore[attr-defined]
    return run


def dvrules_evaluate(w: Workload) -> Runner:
    """``DVRules.evaluate``: the engine's decisions for valid answers, without the report."""
    rules = _dvrules(w)

    def run(answers: Answers) -> Outcome:
        _, ev = rules.evaluate(FLOW, answers)
        return outcome(w, {k for k, v in ev.decided.items() if v is True})

    run.info = _engine_rules(rules)  # type: ignore[attr-defined]
    return run


# ---------------------------------------------------------------------- durable_rules, plainly


def durable_plain(w: Workload) -> Runner:
    """durable_rules through ``durable.lang`` as its documentation shows: one ruleset, one fact
    per answer, one rule per requirement (``when_any`` for alternatives, a join for ``all``),
    the action recording the requirement and asserting a 'met' fact others join.

    Its limits shape the loop: a ruleset name is registered once per process in a global host,
    and a ruleset holds at most 1,024 live sessions (sids), while ``delete_state`` can free
    memory twice when a fact still waits in a join. So one session is reused: assert the
    answers, read what fired, retract every fact asserted.

    One change from plain use: the global host is created without its two background timer
    threads, which dispatch a session's pending actions while the caller is still asserting
    (a known race of durable_rules' default host).
    """
    import durable.lang as lang
    from durable.engine import Host
    from durable.lang import assert_facts, item, m, retract_facts, ruleset, when_all, when_any

    class QuietHost(Host):  # type: ignore[misc]
        def _run(self) -> None:  # no background dispatch threads
            return None

    if lang._main_host is None:
        lang._main_host = QuietHost()

    name = f"peer_{w.rules}_{w.seed}"
    met: set[str] = set()
    derived: list[dict[str, Any]] = []
    referenced = referenced_items(w)

    def pattern(test: Condition) -> Any:
        if "item" in test:
            return (m.t == "met") & (m.id == test["item"])
        op, val = test_op(test)
        q = m.q == test["answer"]
        if op == "is":
            return q & (m.v == val)
        if op == "at_least":
            return q & (m.v >= val)
        if op == "at_most":
            return q & (m.v <= val)
        if op == "more_than":
            return q & (m.v > val)
        if op == "less_than":
            return q & (m.v < val)
        if op == "count_at_least":
            return q & (m.n >= val)
        return q & m.v.anyItem(item == val)

    def action(rid: str) -> Callable[[Any], None]:
        def act(c: Any) -> None:
            if rid in met:  # both alternatives of an ``any`` hold
                return
            met.add(rid)
            if rid in referenced:
                fact = {"t": "met", "id": rid}
                derived.append(fact)
                c.assert_fact(fact)

        return act

    with ruleset(name):
        # a fact no rule matches is refused (MessageNotHandledException): one sink rule
        when_all(+m.q)(lambda c: None)
        for r in w.requirements:
            patterns = [pattern(t) for t in tests_of(r.when)]
            rule = when_any(*patterns) if "any" in r.when else when_all(*patterns)
            rule(action(r.id))

    def run(answers: Answers) -> Outcome:
        met.clear()
        derived.clear()
        facts = [
            {"q": q, "v": v, "n": len(v)} if isinstance(v, list) else {"q": q, "v": v}
            for q, v in answers.items()
        ]
        assert_facts(name, facts)
        result = outcome(w, met)
        retract_facts(name, facts)
        if derived:
            retract_facts(name, list(derived))
        return result

    return run


# ---------------------------------------------------------------------- CLIPS (clipspy)


def _clips_rules(w: Workload, templated: bool) -> list[str]:
    """One defrule per requirement (one per alternative of an ``any``)."""

    def ce(test: Condition, n: int) -> str:
        if "item" in test:
            return f"(met (id {test['item']}))" if templated else f"(met {test['item']})"
        op, val = test_op(test)
        q = test["answer"]
        if op == "is":
            value = "yes" if val else "no"
        elif op == "includes":
            value = f"$? {val} $?"
        elif op == "count_at_least":
            value = f"$?x{n}&:(>= (length$ ?x{n}) {val})"
        else:
            cmp = {"at_least": ">=", "at_most": "<=", "more_than": ">", "less_than": "<"}[op]
            value = f"?v{n}&:({cmp} ?v{n} {val})"
        if not templated:
            return f"(answer {q} {value})"
        slot = "items" if op in ("includes", "count_at_least") else "v"
        return f"(answer (q {q}) ({slot} {value}))"

    out: list[str] = []
    for r in w.requirements:
        tests = tests_of(r.when)
        fire = f"(assert (met (id {r.id})))" if templated else f"(assert (met {r.id}))"
        if "any" in r.when:
            for k, t in enumerate(tests):
                out.append(f"(defrule {r.id}-{k} {ce(t, 0)} => {fire})")
        else:
            ces = " ".join(ce(t, n) for n, t in enumerate(tests))
            out.append(f"(defrule {r.id} {ces} => {fire})")
    return out


def clips_eval(w: Workload) -> Runner:
    """CLIPS with strings: rules built from text, answers asserted as ordered facts by one
    ``(assert ...)`` evaluated as text, the 'met' facts read with ``find-all-facts``."""
    import clips

    env = clips.Environment()
    for rule in _clips_rules(w, templated=False):
        env.build(rule)

    def fact(q: str, v: Any) -> str:
        if isinstance(v, bool):
            return f"(answer {q} {'yes' if v else 'no'})"
        if isinstance(v, list):
            return f"(answer {q} {' '.join(v)})"
        return f"(answer {q} {v})"

    def run(answers: Answers) -> Outcome:
        env.reset()
        env.eval("(assert " + " ".join(fact(q, v) for q, v in answers.items()) + ")")
        env.run()
        found = env.eval("(find-all-facts ((?f met)) TRUE)")
        return outcome(w, {str(f[0]) for f in found})

    return run


def clips_api(w: Workload) -> Runner:
    """CLIPS through clipspy's Python objects: templates, ``Template.assert_fact`` with
    Python values, the 'met' facts read by iterating the template's facts."""
    import clips

    env = clips.Environment()
    env.build("(deftemplate answer (slot q) (slot v) (multislot items))")
    env.build("(deftemplate met (slot id))")
    for rule in _clips_rules(w, templated=True):
        env.build(rule)
    answer = env.find_template("answer")
    met = env.find_template("met")
    yes, no = clips.Symbol("yes"), clips.Symbol("no")

    def run(answers: Answers) -> Outcome:
        env.reset()
        for q, v in answers.items():
            if isinstance(v, bool):
                answer.assert_fact(q=clips.Symbol(q), v=yes if v else no)
            elif isinstance(v, list):
                answer.assert_fact(q=clips.Symbol(q), items=[clips.Symbol(c) for c in v])
            else:
                answer.assert_fact(q=clips.Symbol(q), v=v)
        env.run()
        return outcome(w, {str(f["id"]) for f in met.facts()})

    return run


# ---------------------------------------------------------------------- business-rules


def business_rules(w: Workload) -> Runner:
    """business-rules (venmo): rules as JSON over a variables class and an actions class; one
    variable per question (and its count), one per requirement another joins; the rules run
    in order, so a requirement reads the ones before it."""
    from business_rules.actions import BaseActions, rule_action
    from business_rules.engine import run_all
    from business_rules.fields import FIELD_TEXT
    from business_rules.variables import (
        BaseVariables,
        boolean_rule_variable,
        numeric_rule_variable,
        select_multiple_rule_variable,
    )

    methods: dict[str, Any] = {}
    for question in w.questions:
        q = question.id
        if question.type == "yes_no":
            methods[q] = boolean_rule_variable(_getter(q))
        elif question.type == "integer":
            methods[q] = numeric_rule_variable(_getter(q))
        else:
            methods[q] = select_multiple_rule_variable()(_getter(q))
            methods[q + "_count"] = numeric_rule_variable(_counter(q))
    for rid in referenced_items(w):
        methods[_ident(rid)] = boolean_rule_variable(_met_getter(rid))

    def init(self: Any, answers: Answers, met: set[str]) -> None:
        self.answers, self.met = answers, met

    variables = type("PeerVariables", (BaseVariables,), {"__init__": init, **methods})

    class PeerActions(BaseActions):  # type: ignore[misc]
        def __init__(self, met: set[str]) -> None:
            self.met = met

        @rule_action(params={"rid": FIELD_TEXT})  # type: ignore[untyped-decorator]
        def mark_met(self, rid: str) -> None:
            self.met.add(rid)

    def condition(test: Condition) -> dict[str, Any]:
        if "item" in test:
            return {"name": _ident(test["item"]), "operator": "is_true", "value": True}
        op, val = test_op(test)
        q = test["answer"]
        if op == "is":
            return {"name": q, "operator": "is_true" if val else "is_false", "value": True}
        if op == "includes":
            return {"name": q, "operator": "contains_all", "value": [val]}
        if op == "count_at_least":
            return {"name": q + "_count", "operator": "greater_than_or_equal_to", "value": val}
        operator = {
            "at_least": "greater_than_or_equal_to",
            "at_most": "less_than_or_equal_to",
            "more_than": "greater_than",
            "less_than": "less_than",
        }[op]
        return {"name": q, "operator": operator, "value": val}

    rules = [
        {
            "conditions": {
                "any" if "any" in r.when else "all": [condition(t) for t in tests_of(r.when)]
            },
            "actions": [{"name": "mark_met", "params": {"rid": r.id}}],
        }
        for r in w.requirements
    ]

    def run(answers: Answers) -> Outcome:
        met: set[str] = set()
        run_all(rules, variables(answers, met), PeerActions(met), stop_on_first_trigger=False)
        return outcome(w, met)

    return run


def _ident(rid: str) -> str:
    return rid.replace(".", "_")


def _getter(q: str) -> Callable[[Any], Any]:
    def get(self: Any) -> Any:
        return self.answers[q]

    get.__name__ = q
    return get


def _counter(q: str) -> Callable[[Any], int]:
    def count(self: Any) -> int:
        return len(self.answers[q])

    count.__name__ = q + "_count"
    return count


def _met_getter(rid: str) -> Callable[[Any], bool]:
    def get(self: Any) -> bool:
        return rid in self.met

    get.__name__ = _ident(rid)
    return get


# ---------------------------------------------------------------------- rule-engine


def rule_engine(w: Workload) -> Runner:
    """rule-engine: one compiled ``Rule`` expression per requirement, matched in order against
    the answers, each result added to the object the later rules read."""
    import rule_engine as re_

    context = re_.Context()

    def expr(test: Condition) -> str:
        if "item" in test:
            return _ident(test["item"])
        op, val = test_op(test)
        q = test["answer"]
        if op == "is":
            return f"{q} == {'true' if val else 'false'}"
        if op == "includes":
            return f"'{val}' in {q}"
        if op == "count_at_least":
            return f"{q}.length >= {val}"
        cmp = {"at_least": ">=", "at_most": "<=", "more_than": ">", "less_than": "<"}[op]
        return f"{q} {cmp} {val}"

    compiled: list[tuple[str, str, Any]] = []
    for r in w.requirements:
        joiner = " or " if "any" in r.when else " and "
        text = joiner.join(f"({expr(t)})" for t in tests_of(r.when))
        compiled.append((r.id, _ident(r.id), re_.Rule(text, context=context)))

    def run(answers: Answers) -> Outcome:
        thing: dict[str, Any] = dict(answers)
        met: set[str] = set()
        for rid, ident, rule in compiled:
            holds = rule.matches(thing)
            thing[ident] = holds
            if holds:
                met.add(rid)
        return outcome(w, met)

    return run


# ---------------------------------------------------------------------- experta


def _experta_import() -> Any:
    """experta pins frozendict 1.2, which subclasses ``collections.Mapping`` (gone since
    Python 3.10): give it the ABC's new home before importing."""
    if not hasattr(collections, "Mapping"):
        collections.Mapping = collections.abc.Mapping  # type: ignore[attr-defined]
    import experta

    return experta


PREDICATES: dict[str, Callable[[Any, Any], bool]] = {
    "includes": lambda v, val: val in v,
    "count_at_least": lambda v, val: len(v) >= val,
    "at_least": lambda v, val: bool(v >= val),
    "at_most": lambda v, val: bool(v <= val),
    "more_than": lambda v, val: bool(v > val),
    "less_than": lambda v, val: bool(v < val),
}


def experta_engine(w: Workload) -> Runner:
    """experta (a CLIPS-like engine in Python): a ``KnowledgeEngine`` subclass with one
    ``@Rule`` per requirement (``OR`` for alternatives, ``P`` predicates for thresholds)."""
    ex = _experta_import()

    fact: Any = ex.Fact

    class AnswerFact(fact):  # type: ignore[misc]
        pass

    class MetFact(fact):  # type: ignore[misc]
        pass

    referenced = referenced_items(w)

    def pattern(test: Condition) -> Any:
        if "item" in test:
            return MetFact(id=test["item"])
        op, val = test_op(test)
        q = test["answer"]
        if op == "is":
            return AnswerFact(q=q, v=val)
        pred = PREDICATES[op]
        return AnswerFact(q=q, v=ex.P(lambda v: pred(v, val)))

    def action(rid: str) -> Callable[[Any], None]:
        def act(self: Any) -> None:
            if rid in self.met:
                return
            self.met.add(rid)
            if rid in referenced:
                self.declare(MetFact(id=rid))

        return act

    members: dict[str, Any] = {}
    for n, r in enumerate(w.requirements):
        patterns = [pattern(t) for t in tests_of(r.when)]
        lhs = [ex.OR(*patterns)] if "any" in r.when else patterns
        members[f"rule_{n}"] = ex.Rule(*lhs)(action(r.id))
    engine_class = type("PeerEngine", (ex.KnowledgeEngine,), members)
    engine = engine_class()

    def run(answers: Answers) -> Outcome:
        engine.met = set()
        engine.reset()
        engine.declare(*(AnswerFact(q=q, v=v) for q, v in answers.items()))
        engine.run()
        return outcome(w, engine.met)

    return run


# ---------------------------------------------------------------------- the list

# name -> (builder, distribution to install, one line on how it is used)
ENGINES: dict[str, tuple[Callable[[Workload], Runner], str, str]] = {
    "python": (python_evaluator, "", "hand-written Python evaluator (the baseline)"),
    "dvrules-assess": (dvrules_assess, "", "`DVRules.assess`: full public result"),
    "dvrules-evaluate": (dvrules_evaluate, "", "`DVRules.evaluate`: engine decisions only"),
    "durable-plain": (durable_plain, "durable_rules", "durable_rules via `durable.lang`"),
    "clips-eval": (clips_eval, "clipspy", "CLIPS (clipspy), rules and facts as strings"),
    "clips-api": (clips_api, "clipspy", "CLIPS (clipspy), templates and Python fact objects"),
    "business-rules": (business_rules, "business-rules", "business-rules (JSON rules)"),
    "rule-engine": (rule_engine, "rule-engine", "rule-engine (compiled expressions)"),
    "experta": (experta_engine, "experta", "experta (KnowledgeEngine, `@Rule`)"),
}
# What the default install has (the rest come from the ``bench`` extra).
DEFAULT_ENGINES = ("python", "dvrules-assess", "dvrules-evaluate", "durable-plain")
