"""The durable_rules engine: knowledge conditions compiled to rulesets on a private host.

Design (see the project's durable_rules note): answers, not engine state, are kept. An
evaluation asserts the answers into an internal engine session, lets the rules chain (answers
-> outcome facts -> outcomes that refer to them) and reads what was derived. Sessions stay live
in a small LRU per flow, found by the answer facts they hold: in Kleene logic with no negation
a decided outcome never flips when an unknown becomes known, so a session holding a subset of
the new answers takes just the missing ones (an interview turn) and ends where a fresh session
would. Anything else (a changed or withdrawn answer, eviction, any refusal by the engine)
starts a fresh session from the answers. Sessions dropped from the LRU are emptied by
retracting what they hold (deleting one crashes durable_rules) and their ids reused, so the
engine's session cap and its 32-bit session hash are never reached, chat ids never reach the
engine, and a changed answer can leave nothing stale.

Each answer is its own small fact. Each outcome's condition is compiled twice, as the rules
that prove it *holds* and the rules that prove it *fails*; an outcome proved neither way is
unknown (Kleene logic, no ``none()`` negation, which durable_rules evaluates in arrival order).
Alternatives that join other outcomes become one rule each (disjunctive normal form), at most
16 facts per rule.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import durable.engine as durable_engine

from dvrules.conditions import threshold
from dvrules.errors import EngineError, KnowledgeError
from dvrules.kb_cache import compiled_cached
from dvrules.knowledge import KnowledgeBase, dependency_order
from dvrules.schema import All, AnyOf, Condition, ItemRef, Not, Pathway, Test

warnings.filterwarnings("ignore", category=DeprecationWarning, module="durable.engine")

MAX_ALTERNATIVES = 64
MAX_JOIN = 16  # durable_rules fails at run time (error 304) beyond this
MAX_RULES = 4096  # per ruleset (durable_rules error 106 beyond)
MAX_SUBJECTS = 480  # answers tested per flow: an alpha node hangs past about 512 children
SESSIONS_PER_HOST = 512  # session ids per host, well under durable_rules' 1,024 per ruleset
LIVE_SESSIONS = 8  # live sessions kept per flow at most (answers asserted, ready to extend)
LIVE_RULE_STATES = 1200  # and at most about this many rules x live sessions per flow


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


def fnv1a_32(text: str) -> int:
    """durable_rules' hash of a session id (``fnv1Hash32`` in its C core): sessions are found
    by this hash alone, so two live ids with the same hash would share one session."""
    h = 2166136261
    for byte in text.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


# An answer fact as (answer id, its value as JSON): JSON tells ``true`` from ``1`` and ``1.0``.
Item = tuple[str, str]


@dataclass
class _Live:
    """One live engine session: the answer facts asserted into it and what the rules derived.

    Kleene logic is monotonic and no rule negates, so a session holding a subset of an
    evaluation's answer facts can take just the missing ones and end where a fresh session
    would; a session is never retracted back to fewer answers (no truth maintenance).
    """

    sid: str
    flow: str
    items: frozenset[Item]
    decided: dict[str, bool]
    asserted: list[str]  # JSON of every fact in the session, to retract it when evicted


class _Anomaly(Exception):
    """durable_rules refused or half-applied something: the session is no longer trusted."""


class RulesEngine:
    """One private durable_rules host per knowledge base and parameter set, holding an LRU of
    live engine sessions (see ``_Live``) under internal session ids.

    An evaluation whose answers extend a live session's asserts only the new answers (an
    interview turn); any other starts a session, asserting all its answers in one batch. A
    flow's least recently used session is emptied by retraction (deleting it crashes
    durable_rules) and its id reused, so each flow has at most ``LIVE_SESSIONS`` ids in use
    (fewer for large rulesets: ``LIVE_RULE_STATES``). Anything unexpected from the engine
    abandons the session and evaluates again in a fresh one (in one batch, then one fact at a
    time). Every call runs under one lock: durable_rules' C core has no locks of its own.
    """

    def __init__(
        self,
        kb: KnowledgeBase,
        params: Mapping[str, float] | None = None,
        compiled: Mapping[str, dict[str, Any]] | None = None,
        live_sessions: int | None = None,
        *,
        incremental: bool = True,
        batch: bool = True,
    ):
        """``incremental=False`` evaluates every call in a fresh session, and ``batch=False``
        asserts answers one at a time: the plain way, which tests compare with."""
        self.kb = kb
        self.params = dict(kb.params() if params is None else params)
        self.live_sessions = max(1, LIVE_SESSIONS if live_sessions is None else live_sessions)
        self.incremental, self.batch = incremental, batch
        self._lock = threading.Lock()
        definitions = {}
        for flow in kb.flows:
            rules = compiled[flow] if compiled is not None else compile_flow(kb, flow, self.params)
            if rules:
                definitions[_ruleset_name(flow)] = rules
        self._definitions = definitions
        self.rule_count = sum(len(r) for r in definitions.values())
        # Per flow, the answer facts (by ``q``) and outcome ids some rule joins: any other fact
        # would match no rule, so asserting it only raises MessageNotHandledException.
        self._tested = {
            flow: _tested_subjects(definitions.get(_ruleset_name(flow), {})) for flow in kb.flows
        }
        self._joined = {flow: frozenset(self._referenced(flow)) for flow in kb.flows}
        self._flows_with_rules = {f for f in kb.flows if _ruleset_name(f) in definitions}
        # What each rule derives, by rule name: (outcome id, holds).
        self._actions: dict[str, tuple[str, bool]] = {}
        for rules in definitions.values():
            for name, rule in rules.items():
                key, _, holds_text = rule["run"].rpartition("|")
                self._actions[name] = (key, holds_text == "True")
        self._choices = {qid: [c.id for c in kb.choices(q)] for qid, q in kb.questions.items()}
        self._answer_prefix: dict[str, str] = {}
        self._outcome_prefix: dict[tuple[str, bool], str] = {}
        # Live sessions per flow, by sid, least recent first. Each session holds one state in
        # the flow's ruleset, which durable_rules sizes by the ruleset (index tables for every
        # join: about 14 MB per referral session, measured) and never frees; so each flow keeps
        # as many live sessions as ``LIVE_RULE_STATES`` rule-states allow, at least one.
        self._live: dict[str, OrderedDict[str, _Live]] = {f: OrderedDict() for f in kb.flows}
        self._quota = {
            f: max(1, min(self.live_sessions, LIVE_RULE_STATES // max(1, len(rules))))
            for f, rules in ((f, definitions.get(_ruleset_name(f), {})) for f in kb.flows)
        }
        self._by_items: dict[tuple[str, frozenset[Item]], str] = {}
        self._start_host()

    # ------------------------------------------------------------------ host and session ids

    def _start_host(self) -> None:
        self._host = _PrivateHost()
        self._host.set_rulesets(json.loads(_to_json(self._definitions)))  # it mutates its input
        self._handles = {name: self._host.get_ruleset(name)._handle for name in self._definitions}
        for live in self._live.values():
            live.clear()
        self._by_items.clear()
        # Emptied session ids per flow, reused first: an id reused in its own flow's ruleset
        # needs no new engine state.
        self._free: dict[str, list[str]] = {f: [] for f in self.kb.flows}
        self._hashes: set[int] = set()  # of every id this host has seen (emptied or abandoned)
        self._ids = itertools.count(1)

    def _new_sid(self, flow: str) -> str:
        if self._free[flow]:
            return self._free[flow].pop()
        if len(self._hashes) >= SESSIONS_PER_HOST:  # abandoned sessions piled up: start over
            self._start_host()
        while True:
            sid = f"s{next(self._ids)}"
            h = fnv1a_32(sid)
            if h not in self._hashes:  # never two ids the engine would take for one
                self._hashes.add(h)
                return sid

    def _evict(self, flow: str) -> None:
        """Empty the flow's least recently used live session by retraction; reuse its id."""
        _, live = self._live[flow].popitem(last=False)
        self._by_items.pop((live.flow, live.items), None)
        handle = self._handles[_ruleset_name(live.flow)]
        try:
            if live.asserted:
                result = _core.retract_facts(handle, "[" + ",".join(reversed(live.asserted)) + "]")
                if result[0] not in (0, 3) or _core.start_action_for_state(handle, result[1]):
                    return  # refused, or an action became ready: abandon the id
        except Exception:  # noqa: BLE001 - any refusal: the id is abandoned, never reused
            return
        self._free[flow].append(live.sid)

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, flow: str, facts: Mapping[str, Any], *, reuse: bool = True) -> Evaluation:
        """Run the flow's rules over known facts (answers and derived values).

        ``reuse=False`` never answers from a live session holding exactly these facts (the
        work is done again, as when measuring it); growing a live session still happens.
        """
        if flow not in self._flows_with_rules:
            return Evaluation({})
        items = frozenset(self._items(flow, facts))
        with self._lock:
            found = self._by_items.get((flow, items)) if self.incremental and reuse else None
            if found is not None:  # the same answers again: nothing to assert
                self._live[flow].move_to_end(found)
                return Evaluation(dict(self._live[flow][found].decided))
            base = self._closest(flow, items) if self.incremental else None
            if base is not None:
                try:
                    return Evaluation(dict(self._extend(base, items)))
                except _Anomaly:
                    pass  # ``_extend`` abandoned the session: evaluate afresh
            for one_by_one in (not self.batch, True, True):
                try:
                    return Evaluation(dict(self._fresh(flow, items, one_by_one)))
                except _Anomaly:
                    continue
        raise EngineError("the rules engine refused the answers three times; result refused")

    def _items(self, flow: str, facts: Mapping[str, Any]) -> list[Item]:
        """The answer facts some rule of the flow tests; a list becomes a count and a flag per
        option (one small fact per answer: see ``answer_facts``)."""
        tested = self._tested[flow]
        out: list[Item] = []
        for name, value in facts.items():
            if isinstance(value, list):
                count = f"{name}__count"
                if count in tested:
                    out.append((count, _to_json(len(value))))
                for choice in self._choices[name]:
                    flag = f"{name}__has__{choice}"
                    if flag in tested:
                        out.append((flag, "true" if choice in value else "false"))
            elif name in tested:
                out.append((name, _value_json(value)))
        return out

    def _closest(self, flow: str, items: frozenset[Item]) -> _Live | None:
        """The live session of this flow holding the most of these answers and no other."""
        best: _Live | None = None
        for live in self._live[flow].values():
            if (
                len(live.items) < len(items)
                and (best is None or len(live.items) > len(best.items))
                and live.items <= items
            ):
                best = live
        return best

    def _fresh(self, flow: str, items: frozenset[Item], one_by_one: bool) -> dict[str, bool]:
        same = self._by_items.get((flow, items))
        if same is not None:  # one live session per answer set: drop the older one
            self._evict_sid(flow, same)
        while len(self._live[flow]) >= self._quota[flow]:
            self._evict(flow)
        live = _Live(self._new_sid(flow), flow, frozenset(), {}, [])
        self._live[flow][live.sid] = live
        try:
            self._assert(live, sorted(items), one_by_one)
        except BaseException:
            self._abandon(live)
            raise
        live.items = items
        if self.incremental:
            self._by_items[(flow, items)] = live.sid
        else:  # emptied again at once, as a fresh evaluation leaves nothing behind
            self._evict_sid(flow, live.sid)
        return live.decided

    def _extend(self, live: _Live, items: frozenset[Item]) -> dict[str, bool]:
        del self._by_items[(live.flow, live.items)]
        self._live[live.flow].move_to_end(live.sid)
        try:
            self._assert(live, sorted(items - live.items), one_by_one=not self.batch)
        except BaseException:
            self._abandon(live)
            raise
        live.items = items
        existing = self._by_items.get((live.flow, items))
        if existing is not None:  # an identical session exists (rare): keep only this one
            self._evict_sid(live.flow, existing)
        self._by_items[(live.flow, items)] = live.sid
        return live.decided

    def _evict_sid(self, flow: str, sid: str) -> None:
        self._live[flow].move_to_end(sid, last=False)
        self._evict(flow)

    def _abandon(self, live: _Live) -> None:
        """Forget a session the engine may hold half-applied; its id is never used again."""
        self._live[live.flow].pop(live.sid, None)
        if self._by_items.get((live.flow, live.items)) == live.sid:
            del self._by_items[(live.flow, live.items)]

    def _assert(self, live: _Live, items: list[Item], one_by_one: bool) -> None:
        """Assert answer facts into a live session and run every action they make ready.

        In one batch by default (one crossing into the engine); one at a time when a batch was
        refused, where an answer no rule matches is skipped as before.
        """
        if not items:
            return
        handle = self._handles[_ruleset_name(live.flow)]
        tail = ',"sid":"' + live.sid + '"}'
        texts = [self._answer_json(q) + v + tail for q, v in items]
        known = len(live.decided)
        if not one_by_one:
            result = _core.assert_facts(handle, "[" + ",".join(texts) + "]")
            if result[0] != 0:  # a batch with any refused fact is half applied: start over
                raise _Anomaly
            live.asserted += texts
            self._dispatch(live, handle, result[1])
        else:
            for text in texts:
                result = _core.assert_fact(handle, text)
                if result[0] == 1:
                    continue  # no rule looks at this value
                if result[0] != 0:  # 2: a false duplicate (#376)
                    raise _Anomaly
                live.asserted.append(text)
                self._dispatch(live, handle, result[1])
        # An outcome asserted inside an action is deferred until the action completes, and
        # durable_rules may then drop it silently as a false duplicate (#376), starving the
        # rules that join it: check every joined outcome derived here is stored.
        joined = self._joined[live.flow]
        derived = [k for k in itertools.islice(live.decided, known, None) if k in joined]
        if derived:
            text = _core.get_facts(handle, live.sid)
            tail = ',"sid":"' + live.sid + '"}'
            if all(self._outcome_json(k, live.decided[k]) + tail in text for k in derived):
                return  # each one stored as asserted (the engine keeps a fact's text as is)
            ids = {f.get("id") for f in json.loads(text) if f.get("t") == "outcome"}
            if any(k not in ids for k in derived):
                raise _Anomaly

    def _dispatch(self, live: _Live, handle: int, state_handle: int) -> None:
        """Run the actions made ready, and those they make ready, in turn.

        The actions are done here rather than through durable_rules' Python action layer
        (Promise, Closure, the session state parsed from JSON for every chain and written back
        after every action): each records its outcome, and asserts it as a fact when a rule
        joins it. A refused assertion raises ``_Anomaly``; a failure raises ``EngineError``.
        """
        result = _core.start_action_for_state(handle, state_handle)
        if not result:
            return
        message: str = result[1]
        decided, joined = live.decided, self._joined[live.flow]
        while True:
            try:
                key, holds = self._actions[message[2 : message.index('":', 2)]]
                if key not in decided:  # else a second alternative proved the same thing
                    decided[key] = self._on_action(key, holds)
                    if key in joined:
                        self._assert_outcome(live, handle, key, holds)
            except _Anomaly:
                raise
            except Exception as error:
                raise EngineError(f"a rule action failed: {error}") from error
            message = _core.complete_and_start_action(handle, state_handle)
            if not message:
                return

    def _on_action(self, key: str, holds: bool) -> bool:
        """What an action records for ``key`` (a hook for tests of failing actions)."""
        return holds

    def _outcome_json(self, key: str, holds: bool) -> str:
        prefix = self._outcome_prefix.get((key, holds))
        if prefix is None:
            prefix = self._outcome_prefix[(key, holds)] = (
                '{"t":"outcome","id":' + _to_json(key) + ',"holds":' + _to_json(holds)
            )
        return prefix

    def _assert_outcome(self, live: _Live, handle: int, key: str, holds: bool) -> None:
        text = self._outcome_json(key, holds) + ',"sid":"' + live.sid + '"}'
        code = _core.assert_fact(handle, text)[0]
        if code in (0, 3):  # stored, or (3) deferred until the running action completes
            live.asserted.append(text)
        elif code != 1:  # 1: no rule joins this value of the outcome (it is in ``decided``)
            raise _Anomaly  # a false duplicate (#376) would starve the rules that join it

    def _answer_json(self, q: str) -> str:
        prefix = self._answer_prefix.get(q)
        if prefix is None:
            prefix = self._answer_prefix[q] = (
                '{"t":"answer","id":' + _to_json(f"a:{q}") + ',"q":' + _to_json(q) + ',"v":'
            )
        return prefix

    def _referenced(self, flow: str) -> set[str]:
        """Outcomes of the flow that some rule joins (computed once, at start)."""
        return {leaf.item for _, cond in evaluable(self.kb, flow) for leaf in _refs(cond)}

    def live_session_ids(self) -> list[str]:
        """The internal ids of the live sessions, least recently used first (for tests)."""
        with self._lock:
            return [sid for live in self._live.values() for sid in live]

    def stored_facts(self, flow: str, sid: str) -> list[dict[str, Any]]:
        """The facts the engine holds in one session (for tests)."""
        with self._lock:
            facts: list[dict[str, Any]] = self._host.get_facts(_ruleset_name(flow), sid)
            return facts


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


def _value_json(value: Any) -> str:
    """An answer's value as ``_to_json(engine_number(value))`` writes it, the common kinds
    without the encoder's generic path."""
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    return _to_json(engine_number(value))


_core: Any = durable_engine.durable_rules_engine


class _PrivateHost(durable_engine.Host):  # type: ignore[misc]
    """A durable_rules host with no background threads. Rules name their actions, but
    ``RulesEngine`` runs them itself, so the host is only asked for a placeholder."""

    def _run(self) -> None:  # the default starts two timer threads that race with callers
        return None

    def get_action(self, action_name: str) -> Any:
        return _never_called


def _never_called(c: Any) -> None:
    raise EngineError("durable_rules ran an action itself")


# ---------------------------------------------------------------------- shared engines

_SHARED: dict[str, RulesEngine] = {}
_SHARED_LOCK = threading.Lock()


def shared_engine(kb: KnowledgeBase, params: Mapping[str, float] | None = None) -> RulesEngine:
    """The engine for this knowledge and parameter set, built once per process and shared.

    durable_rules never frees a ruleset's C memory (about 15 MB for the shipped knowledge), so
    an engine per ``DVRules`` instance would grow without end. Engines are keyed by what they
    run: the compiled rules, the parameters and the options each question has (which shape the
    facts asserted), so two knowledge bases that differ in any of these never share one.
    Evaluations on a shared engine take turns under its lock.
    """
    params = dict(kb.params() if params is None else params)

    def build() -> tuple[dict[str, dict[str, Any]], str]:
        compiled = {flow: compile_flow(kb, flow, params) for flow in kb.flows}
        options = {qid: [c.id for c in kb.choices(q)] for qid, q in kb.questions.items()}
        key = hashlib.sha256(
            json.dumps(
                [compiled, sorted(params.items()), options], sort_keys=True, default=str
            ).encode()
        ).hexdigest()
        return compiled, key

    # Compiling is most of a start once the knowledge comes from the warm-start cache.
    detail = "rules " + json.dumps(sorted(params.items()))
    compiled, key = compiled_cached(kb, detail, build)
    with _SHARED_LOCK:
        engine = _SHARED.get(key)
        if engine is None:
            engine = _SHARED[key] = RulesEngine(kb, params, compiled)
        return engine
