"""The durable_rules engine: knowledge conditions compiled to rulesets on a private host.

Design (see the project's durable_rules note): answers, not engine state, are kept; every
evaluation asserts the answers one by one into an internal engine session, lets the rules chain
(answers -> outcome facts -> outcomes that refer to them), reads what the actions derived,
checks for swallowed exceptions, and retracts every fact it asserted, so the session is empty
again (deleting it instead crashes durable_rules; see ``RulesEngine._run_once``). So at most
one engine session per ruleset is in use, chat ids never reach the engine, and a changed answer
can leave nothing stale.

Each answer is its own small fact. Each outcome's condition is compiled twice, as the rules
that prove it *holds* and the rules that prove it *fails*; an outcome proved neither way is
unknown (Kleene logic, no ``none()`` negation, which durable_rules evaluates in arrival order).
Alternatives that join other outcomes become one rule each (disjunctive normal form), at most
16 facts per rule.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import threading
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable.engine as durable_engine

from dvrules.conditions import threshold
from dvrules.knowledge import KnowledgeBase, KnowledgeError, dependency_order
from dvrules.schema import All, AnyOf, Condition, ItemRef, Not, Pathway, Test

warnings.filterwarnings("ignore", category=DeprecationWarning, module="durable.engine")

MAX_ALTERNATIVES = 64
MAX_JOIN = 16  # durable_rules fails at run time (error 304) beyond this
MAX_RULES = 4096  # per ruleset (durable_rules error 106 beyond)
MAX_SUBJECTS = 480  # answers tested per flow: an alpha node hangs past about 512 children
SESSIONS_PER_HOST = 512  # well under durable_rules' 1,024 live sessions per ruleset


from dvrules.errors import EngineError  # noqa: E402,F401

# An alternative: tests on answer facts that must all hold (subject, expression on ``v``),
# plus outcome facts to join (outcome id, holds).
Alt = tuple[tuple[tuple[str, dict[str, Any]], ...], tuple[tuple[str, bool], ...]]


def urgency_key(pathway_id: str, index: int) -> str:
    """The internal outcome id of a pathway's n-th urgency rule."""
    return f"{pathway_id}#urgency{index}"


def evaluable(kb: KnowledgeBase, flow: str) -> list[tuple[str, Condition]]:
    """Every condition of a flow the engine decides, in dependency order."""
    out: list[tuple[str, Condition]] = []
    for o in dependency_order(kb, kb.outcomes_of(flow)):
        out.append((o.id, o.when))
        if isinstance(o, Pathway):
            out += [(urgency_key(o.id, i), r.when) for i, r in enumerate(o.urgency_rules)]
    return out


def answer_facts(kb: KnowledgeBase, facts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One engine fact per known answer or value; a list becomes a count and one flag per option.

    One small fact per answer (rather than one fact holding every answer) keeps the number of
    alpha-network branches a fact can match low: durable_rules stops at 64 (error 303).
    """
    flat: dict[str, Any] = {}
    for name, value in facts.items():
        if isinstance(value, list):
            flat[f"{name}__count"] = len(value)
            for choice in kb.choices(kb.questions[name]):
                flat[f"{name}__has__{choice.id}"] = choice.id in value
        else:
            flat[name] = value
    return [
        {"t": "answer", "id": f"a:{name}", "q": name, "v": engine_number(value)}
        for name, value in flat.items()
    ]


def engine_number(value: Any) -> Any:
    """A float durable_rules can parse: its JSON reader rejects exponents such as ``1e-05``.

    Tiny non-zero values become +/-0.0001, which keeps their order against every threshold,
    because the loader only accepts thresholds of 0 or at least 0.001 in size; answers are
    capped well below the size where Python writes large floats with an exponent.
    """
    if isinstance(value, float) and value != 0 and abs(value) < 1e-4:
        return math.copysign(1e-4, value)
    return value


class _Compiler:
    def __init__(self, params: Mapping[str, float]):
        self.params = params

    def test(self, t: Test, holds: bool) -> tuple[str, dict[str, Any]]:
        name, op, want = t.subject, t.op, threshold(t.operand, self.params)
        if op == "count_at_least":
            return f"{name}__count", ({"$gte": {"v": want}} if holds else {"$lt": {"v": want}})
        if op == "includes":
            return f"{name}__has__{want}", {"v": holds}
        if op == "is_":
            return name, ({"v": want} if holds else {"$neq": {"v": want}})
        if op == "in_":
            if holds:
                return name, (
                    {"$or": [{"v": w} for w in want]} if len(want) > 1 else {"v": want[0]}
                )
            return name, {"$and": [{"$neq": {"v": w}} for w in want]}
        flip = {"at_least": "$lt", "at_most": "$gt", "more_than": "$lte", "less_than": "$gte"}
        same = {"at_least": "$gte", "at_most": "$lte", "more_than": "$gt", "less_than": "$lt"}
        return name, {(same if holds else flip)[op]: {"v": want}}

    def alternatives(self, cond: Condition, holds: bool) -> list[Alt]:
        """Disjunctive normal form of ``cond`` being ``holds``."""
        if isinstance(cond, Test):
            return [((self.test(cond, holds),), ())]
        if isinstance(cond, ItemRef):
            return [((), ((cond.item, holds),))]
        if isinstance(cond, Not):
            return self.alternatives(cond.not_, not holds)
        children = cond.all if isinstance(cond, All) else cond.any
        conjunctive = isinstance(cond, All) == holds  # all-true or any-false
        parts = [self.alternatives(c, holds) for c in children]
        if conjunctive:
            alts = [
                (sum((a[0] for a in combo), ()), sum((a[1] for a in combo), ()))
                for combo in itertools.product(*parts)
            ]
        else:
            alts = [a for p in parts for a in p]
            subjects = {t[0] for tests, _ in alts for t in tests}
            if len(subjects) == 1 and all(not refs and len(tests) == 1 for tests, refs in alts):
                # one answer, several acceptable values: one rule with an $or
                alts = [(((subjects.pop(), {"$or": [tests[0][1] for tests, _ in alts]}),), ())]
        if len(alts) > MAX_ALTERNATIVES:
            raise KnowledgeError(f"condition expands to {len(alts)} rules; simplify it")
        return alts


def compile_flow(kb: KnowledgeBase, flow: str, params: Mapping[str, float]) -> dict[str, Any]:
    """The durable_rules ruleset (JSON form) of one flow; actions are named ``KEY|holds``."""
    compiler = _Compiler(params)
    rules: dict[str, Any] = {}
    for key, cond in evaluable(kb, flow):
        for holds in (True, False):
            try:
                alts = compiler.alternatives(cond, holds)
            except KnowledgeError as exc:
                raise KnowledgeError(
                    f"{kb.origin.get(key.split('#')[0], '?')}: {key}: {exc}"
                ) from None
            for n, (tests, refs) in enumerate(alts):
                by_subject: dict[str, list[dict[str, Any]]] = {}
                for subject, expr in tests:
                    by_subject.setdefault(subject, []).append(expr)
                if len(by_subject) + len(refs) > MAX_JOIN:
                    raise KnowledgeError(f"{key}: one rule would join more than {MAX_JOIN} facts")
                patterns: list[dict[str, Any]] = [
                    {f"a{i}": {"$and": [{"t": "answer"}, {"q": subject}, *exprs]}}
                    for i, (subject, exprs) in enumerate(by_subject.items())
                ]
                patterns += [
                    {f"r{i}": {"$and": [{"t": "outcome"}, {"id": ref}, {"holds": ref_holds}]}}
                    for i, (ref, ref_holds) in enumerate(refs)
                ]
                rules[f"{key}|{holds}|{n}"] = {"all": patterns, "run": f"{key}|{holds}"}
    # durable_rules fails on more rules than this (error 106), and never returns from building
    # a ruleset whose alpha node has more than about 512 children (one per answer tested).
    if len(rules) > MAX_RULES:
        raise KnowledgeError(f"flow {flow}: {len(rules)} engine rules; at most {MAX_RULES}")
    subjects = {
        s
        for r in rules.values()
        for p in r["all"]
        for part in p.values()
        for s in (x.get("q") for x in part["$and"])
        if s
    }
    if len(subjects) > MAX_SUBJECTS:
        raise KnowledgeError(f"flow {flow}: tests {len(subjects)} answers; at most {MAX_SUBJECTS}")
    return rules


@dataclass
class Evaluation:
    """What the rules derived: outcome id -> holds (True) or fails (False); absent = unknown."""

    decided: dict[str, bool]

    def status(self, key: str) -> bool | None:
        return self.decided.get(key)


class RulesEngine:
    """One private durable_rules host per knowledge base and parameter set.

    The host's background timer threads are never started, and every call runs under one lock,
    because durable_rules' C core has no locks of its own.
    """

    def __init__(self, kb: KnowledgeBase, params: Mapping[str, float] | None = None):
        self.kb = kb
        self.params = dict(kb.params() if params is None else params)
        self._lock = threading.Lock()
        self._emitted: dict[str, dict[str, bool]] = {}
        self._asserted: list[dict[str, Any]] = []
        self._sid_counter = itertools.count(1)
        self._sid = f"s{next(self._sid_counter)}"
        self._sessions_used = 0
        self._joining: frozenset[str] | set[str] = frozenset()
        definitions = {}
        for flow in kb.flows:
            rules = compile_flow(kb, flow, self.params)
            if rules:
                definitions[_ruleset_name(flow)] = rules
        self._definitions = definitions
        self.rule_count = sum(len(r) for r in definitions.values())
        # Per flow, the answer facts (by ``q``) and outcome ids some rule joins: any other fact
        # would match no rule, so asserting it only raises MessageNotHandledException.
        self._tested = {
            flow: _tested_subjects(rules)
            for flow, rules in ((f, definitions.get(_ruleset_name(f), {})) for f in kb.flows)
        }
        self._joined = {flow: self._referenced(flow) for flow in kb.flows}
        self._host = self._build_host()
        self._flows_with_rules = {f for f in kb.flows if _ruleset_name(f) in definitions}

    def _build_host(self) -> _PrivateHost:
        host = _PrivateHost(self._action)
        host.set_rulesets(copy.deepcopy(self._definitions))  # set_rulesets mutates its input
        return host

    def _action(self, name: str) -> Any:
        key, _, holds_text = name.rpartition("|")
        holds = holds_text == "True"
        emitted, asserted = self._emitted, self._asserted

        def derive(c: Any) -> None:
            seen = emitted[c.s.sid]
            if key in seen:  # a second alternative proved the same thing
                return
            seen[key] = holds
            if key not in self._joining:  # no rule refers to this outcome: recorded in ``seen``
                return
            fact = {"t": "outcome", "id": key, "holds": holds, "sid": c.s.sid}
            try:
                c.assert_fact(fact)
                asserted.append(fact)
            except durable_engine.MessageNotHandledException:
                pass  # no rule joins this value of the outcome; it is recorded in ``seen``

        return derive

    def evaluate(self, flow: str, facts: Mapping[str, Any]) -> Evaluation:
        """Run the flow's rules over known facts (answers and derived values)."""
        if flow not in self._flows_with_rules:
            return Evaluation({})
        with self._lock:
            for _attempt in range(2):
                decided = self._run_once(flow, facts)
                if decided is not None:
                    return Evaluation(decided)
        raise EngineError("the rules engine lost a derived fact twice; result refused")

    def _run_once(self, flow: str, facts: Mapping[str, Any]) -> dict[str, bool] | None:
        """One evaluation in the engine session ``self._sid``, emptied again afterwards.

        durable_rules' ``delete_state`` frees memory twice when a fact still waits in a join
        (reproduced: assert one half of a two-fact rule, delete the state, abort), so sessions
        are never deleted: every fact asserted here, answers and derived outcomes alike, is
        retracted before returning, leaving the one session empty for the next evaluation.
        After any failure the session is abandoned for a fresh one.
        """
        ruleset = _ruleset_name(flow)
        sid = self._sid
        self._emitted[sid] = {}
        self._asserted.clear()
        self._joining = referenced = self._joined[flow]
        tested = self._tested[flow]
        clean = False
        try:
            for fact in answer_facts(self.kb, facts):  # one at a time: see the note on batches
                if fact["q"] not in tested:
                    continue  # no rule looks at this answer
                fact["sid"] = sid
                try:
                    self._host.assert_fact(ruleset, fact)
                    self._asserted.append(fact)
                except durable_engine.MessageNotHandledException:
                    pass  # no rule looks at this answer
                except durable_engine.MessageObservedException:
                    return None  # a false duplicate (#376): evaluate again in a fresh session
            if not self._asserted:  # nothing was stored: nothing can have been derived
                clean = True
                return {}
            state = self._host.get_state(ruleset, sid)
            if state.get("exception"):
                raise EngineError(f"a rule action failed: {state['exception']}")
            decided = self._emitted[sid]
            joined = [k for k in decided if k in referenced]
            stored = self._host.get_facts(ruleset, sid) if joined else []
            # A derived fact durable_rules dropped as a false duplicate (#376) would starve the
            # rules that join it; detect it and let the caller evaluate once more.
            stored_ids = {f.get("id") for f in stored if f.get("t") == "outcome"}
            if any(k not in stored_ids for k in joined):
                return None
            clean = True
            return decided
        finally:
            self._emitted.pop(sid, None)
            if clean:
                clean = self._empty(ruleset)
            if not clean:
                self._new_session()

    def _empty(self, ruleset: str) -> bool:
        """Retract everything this evaluation asserted; False if the engine refused."""
        try:
            if self._asserted:  # one batch: one call into the engine instead of one per fact
                self._host.retract_facts(ruleset, self._asserted[::-1])
        except Exception:  # noqa: BLE001 - any refusal means the session is no longer clean
            return False
        finally:
            self._asserted.clear()
        return True

    def _new_session(self) -> None:
        """Move to a fresh engine session; rebuild the host before its session cap is near."""
        self._sessions_used += 1
        if self._sessions_used >= SESSIONS_PER_HOST:
            self._host = self._build_host()
            self._sessions_used = 0
        self._sid = f"s{next(self._sid_counter)}"

    def _referenced(self, flow: str) -> set[str]:
        """Outcomes of the flow that some rule joins (computed once, at start)."""
        return {leaf.item for _, cond in evaluable(self.kb, flow) for leaf in _refs(cond)}


def _tested_subjects(rules: Mapping[str, Any]) -> frozenset[str]:
    """The answer ids (``q``) that some rule of a compiled ruleset tests."""
    subjects: set[str] = set()
    for rule in rules.values():
        for pattern in rule["all"]:
            for parts in pattern.values():
                subjects.update(p["q"] for p in parts["$and"] if "q" in p)
    return frozenset(subjects)


def _refs(cond: Condition) -> list[ItemRef]:
    if isinstance(cond, ItemRef):
        return [cond]
    if isinstance(cond, Not):
        return _refs(cond.not_)
    if isinstance(cond, (All, AnyOf)):
        return [r for c in (cond.all if isinstance(cond, All) else cond.any) for r in _refs(c)]
    return []


def _ruleset_name(flow: str) -> str:
    return "dvrules_" + flow.replace("-", "_")


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # as durable_rules' json.dumps, built once


class _Closure(durable_engine.Closure):  # type: ignore[misc]
    """durable_rules' action context, given its start time instead of reading the clock, and
    the facts the rule matched as JSON text, parsed only if the action reads them (``c.m``).

    Every compiled rule joins single facts (no ``count`` or ``cap``), so that is one object.
    """

    def __init__(
        self, host: Any, ruleset: Any, state: Any, message_json: str, handle: Any, start_time: float
    ):
        self.host = host
        self.s = durable_engine.Content(state)
        self._handle = handle
        self._ruleset = ruleset
        self._completed = False
        self._deleted = False
        self._start_time = start_time
        self._message_json = message_json
        self._frame: dict[str, Any] | None = None

    @property
    def _m(self) -> dict[str, Any]:
        if self._frame is None:
            self._frame = next(iter(json.loads(self._message_json).values()))
        return self._frame


class _PrivateHost(durable_engine.Host):  # type: ignore[misc]
    """A durable_rules host with no background threads and actions looked up by name."""

    def __init__(self, action_factory: Any):
        self._action_factory = action_factory
        super().__init__()

    def _run(self) -> None:  # the default starts two timer threads that race with callers
        return None

    def get_action(self, action_name: str) -> Any:
        return self._action_factory(action_name)

    # Asserting and retracting as evaluations do, without durable_rules' generic dispatch: its
    # Promise and callback layers, and an ``update_state`` after every action that re-asserts
    # the unchanged session state through the network (a third of a cdrp evaluation). The
    # state is written back only when an action failed, so the exception is stored as
    # durable_rules stores it and ``_run_once`` finds it. Same facts, same actions, same order.

    def assert_fact(self, ruleset_name: str, fact: Any, complete: Any = None) -> Any:
        rules = self.get_ruleset(ruleset_name)
        state_handle = rules._handle_result(
            durable_engine.durable_rules_engine.assert_fact(rules._handle, _to_json(fact)), fact
        )
        self._dispatch(rules, state_handle)

    def retract_fact(self, ruleset_name: str, fact: Any, complete: Any = None) -> Any:
        rules = self.get_ruleset(ruleset_name)
        state_handle = rules._handle_result(
            durable_engine.durable_rules_engine.retract_fact(rules._handle, _to_json(fact)), fact
        )
        self._dispatch(rules, state_handle)

    def retract_facts(self, ruleset_name: str, facts: Any, complete: Any = None) -> Any:
        rules = self.get_ruleset(ruleset_name)
        state_handle = rules._handle_result(
            durable_engine.durable_rules_engine.retract_facts(rules._handle, _to_json(facts)), facts
        )
        self._dispatch(rules, state_handle)

    def _dispatch(self, rules: Any, state_handle: Any) -> None:
        """Run the actions the last assertion made ready, and those they make ready, in turn."""
        core = durable_engine.durable_rules_engine
        result = core.start_action_for_state(rules._handle, state_handle)
        if not result:
            return
        state = json.loads(result[0])
        message = result[1]
        started = durable_engine._unix_now()  # once per chain, not once per action
        while True:
            action_name = message[2 : message.index('":', 2)]  # the text is {"NAME":{...}}
            c = _Closure(self, rules, state, message, state_handle, started)
            try:
                rules._actions[action_name]._func(c)
            except BaseException as error:  # stored like durable_rules' Promise.run does
                c.s.exception = (
                    f"exception caught {error}, traceback "
                    f"{traceback.format_tb(error.__traceback__)}"
                )
                core.update_state(rules._handle, _to_json(c.s._d))
            message = core.complete_and_start_action(rules._handle, state_handle)
            if not message:
                return


# ---------------------------------------------------------------------- shared engines

_SHARED: dict[str, RulesEngine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(kb: KnowledgeBase, params: Mapping[str, float] | None = None) -> RulesEngine:
    """The engine for this knowledge and parameter set, built once per process and shared.

    durable_rules never frees a ruleset's C memory (about 15 MB for the shipped knowledge), so
    an engine per ``DVRules`` instance would grow without end. Engines are keyed by what they
    run: the compiled rules, the parameters and the options each question has (which shape the
    facts asserted), so two knowledge bases that differ in any of these never share one.
    Evaluations on a shared engine take turns under its lock and leave nothing behind.
    """
    params = dict(kb.params() if params is None else params)
    compiled = {flow: compile_flow(kb, flow, params) for flow in kb.flows}
    options = {qid: [c.id for c in kb.choices(q)] for qid, q in kb.questions.items()}
    key = hashlib.sha256(
        json.dumps(
            [compiled, sorted(params.items()), options], sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None:
            engine = _SHARED[key] = RulesEngine(kb, params)
        return engine
