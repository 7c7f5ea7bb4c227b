"""Three-valued logic over knowledge conditions, shared by every consumer of a condition.

The rules engine decides outcomes; this module answers the questions around a decision that a
person asks: *why* (``explain``), *what would decide it* (``open_inputs``), and whether an
interview question is still wanted (``evaluate`` on ``ask_when``). It is also the core of the
plain-Python reference evaluator that tests use to cross-check durable_rules.

Facts are a flat dict: answer ids and derived value ids mapped to known values. A missing key
means unknown (not asked, "don't know", or not computable).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dvrules.schema import All, Condition, ItemRef, Not, ParamRef, Test

Tri = bool | None  # True, False, or None for unknown
Status = Callable[[str], Tri]  # whether another outcome holds
Leaf = Callable[[Mapping[str, Any], Mapping[str, float]], Tri]
Compiled = Callable[[Mapping[str, Any], Mapping[str, float], Status], Tri]

# Node kinds of a compiled condition
TEST, REF, NOT, ALL, ANY = range(5)


class Node:
    """A condition compiled once into plain Python: its kind, its children, its leaf test as
    a closure, and the whole condition as one closure (``evaluate``). Walks that look at every
    part (``open_inputs``, ``explain``, ``reachable_inputs``) read these instead of testing the
    model classes again at every step."""

    __slots__ = ("cond", "kind", "children", "parts", "item", "subject", "leaf", "fn", "leaves")

    def __init__(self, cond: Condition):
        self.cond = cond  # held, so its id is never reused while this node is cached
        self.children: tuple[Condition, ...] = ()
        self.parts: tuple[Node, ...] = ()  # the children's nodes
        self.item = ""
        self.subject = ""
        self.leaf: Leaf | None = None
        self.leaves: tuple[Test | ItemRef, ...] | None = None  # filled in by ``leaves``
        if isinstance(cond, Test):
            self.kind, self.subject = TEST, cond.subject
            self.leaf = leaf = _compile_test(cond)
            self.fn: Compiled = lambda facts, params, status: leaf(facts, params)
        elif isinstance(cond, ItemRef):
            self.kind, self.item = REF, cond.item
            item = cond.item
            self.fn = lambda facts, params, status: status(item)
        elif isinstance(cond, Not):
            self.kind, self.children = NOT, (cond.not_,)
            self.parts = (node(cond.not_),)
            self.fn = _compile_not(self.parts[0].fn)
        else:
            self.kind = ALL if isinstance(cond, All) else ANY
            self.children = tuple(cond.all if isinstance(cond, All) else cond.any)
            self.parts = tuple(node(c) for c in self.children)
            fns = tuple(p.fn for p in self.parts)
            self.fn = _compile_junction(fns, decides=self.kind != ALL)


_NODES: dict[int, Node] = {}
_MAX_NODES = 200_000  # conditions of every knowledge base loaded in this process, bounded


def node(cond: Condition) -> Node:
    """The compiled form of ``cond``, built once per condition object (so once per loaded
    knowledge version) and then looked up."""
    found = _NODES.get(id(cond))
    if found is not None and found.cond is cond:
        return found
    if len(_NODES) >= _MAX_NODES:
        _NODES.clear()
    built = _NODES[id(cond)] = Node(cond)
    return built


def _compile_not(inner: Compiled) -> Compiled:
    def fn(facts: Mapping[str, Any], params: Mapping[str, float], status: Status) -> Tri:
        value = inner(facts, params, status)
        return None if value is None else not value

    return fn


def _compile_junction(parts: tuple[Compiled, ...], decides: bool) -> Compiled:
    """``all`` (a false part decides) or ``any`` (a true part decides), three-valued: with no
    deciding part, unknown if any part is unknown."""

    def fn(facts: Mapping[str, Any], params: Mapping[str, float], status: Status) -> Tri:
        unknown = False
        for part in parts:
            value = part(facts, params, status)
            if value is decides:
                return decides
            if value is None:
                unknown = True
        return None if unknown else not decides

    return fn


def _is(value: Any, want: Any) -> bool:
    return bool(value == want and isinstance(value, bool) == isinstance(want, bool))


_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "is_": _is,
    "in_": lambda value, want: value in want,
    "count_at_least": lambda value, want: len(value) >= want,
    "includes": lambda value, want: want in value,
    "at_least": operator.ge,
    "at_most": operator.le,
    "more_than": operator.gt,
    "less_than": operator.lt,
}


def _compile_test(test: Test) -> Leaf:
    """``test_holds`` for one test, with its subject, operator and operand looked up once."""
    subject, op = test.subject, test.op
    compare = _COMPARE[op]
    operand = getattr(test, op)
    if isinstance(operand, ParamRef):
        name = operand.param

        def by_param(facts: Mapping[str, Any], params: Mapping[str, float]) -> Tri:
            if subject not in facts:
                return None
            return bool(compare(facts[subject], params[name]))

        return by_param

    def by_value(facts: Mapping[str, Any], params: Mapping[str, float]) -> Tri:
        if subject not in facts:
            return None
        return bool(compare(facts[subject], operand))

    return by_value


def threshold(operand: Any, params: Mapping[str, float]) -> Any:
    """A test's operand with parameters resolved to numbers."""
    return params[operand.param] if isinstance(operand, ParamRef) else operand


def test_holds(test: Test, facts: Mapping[str, Any], params: Mapping[str, float]) -> Tri:
    """One leaf. Unknown when its subject has no known value."""
    leaf = node(test).leaf
    assert leaf is not None
    return leaf(facts, params)


def evaluate(
    cond: Condition, facts: Mapping[str, Any], params: Mapping[str, float], status: Status
) -> Tri:
    """Kleene evaluation: false dominates ``all``, true dominates ``any``."""
    return node(cond).fn(facts, params, status)


def _children(cond: Condition) -> tuple[Condition, ...]:
    return node(cond).children


def leaves(cond: Condition) -> Iterable[Test | ItemRef]:
    """Every test and item reference in a condition, in order (listed once per condition)."""
    n = node(cond)
    if n.leaves is not None:
        return n.leaves
    found: tuple[Test | ItemRef, ...]
    if isinstance(cond, (Test, ItemRef)):
        found = (cond,)
    else:
        found = tuple(leaf for child in n.children for leaf in leaves(child))
    n.leaves = found
    return found


def _remembering(
    facts: Mapping[str, Any], params: Mapping[str, float], status: Status
) -> Callable[[Condition], Tri]:
    """``evaluate`` that remembers each part's value (by node) for one walk of a condition."""
    value = _node_values(facts, params, status)
    return lambda c: value(node(c))


def _node_values(
    facts: Mapping[str, Any],
    params: Mapping[str, float],
    status: Status,
    values: dict[Node, Tri] | None = None,
) -> Callable[[Node], Tri]:
    """The value of each compiled part, each computed once (in ``values``) for given facts."""
    memo: dict[Node, Tri] = {} if values is None else values

    def value(n: Node) -> Tri:
        try:
            return memo[n]
        except KeyError:
            pass
        kind = n.kind
        result: Tri
        if kind == TEST:
            result = n.leaf(facts, params)  # type: ignore[misc]
        elif kind == REF:
            result = status(n.item)
        elif kind == NOT:
            inner = value(n.parts[0])
            result = None if inner is None else not inner
        else:
            parts = [value(part) for part in n.parts]
            if kind == ALL:
                result = False if False in parts else (None if None in parts else True)
            else:
                result = True if True in parts else (None if None in parts else False)
        memo[n] = result
        return result

    return value


def open_inputs(
    cond: Condition,
    facts: Mapping[str, Any],
    params: Mapping[str, float],
    status: Status,
    inputs_of: Callable[[Test | ItemRef], list[str]],
) -> list[str]:
    """The inputs whose answers could still decide an undecided condition.

    Only undecided branches count: a part that is already true or false can no longer change
    the outcome, so its unanswered questions are not worth asking.
    """
    # Each part is evaluated once rather than again at every level above it; the inputs are
    # then collected depth first through the undecided parts only.
    value = _remembering(facts, params, status)
    if value(cond) is not None:
        return []
    if isinstance(cond, (Test, ItemRef)):
        return inputs_of(cond)
    found: list[str] = []

    def collect(c: Condition) -> None:
        if value(c) is not None:
            return
        n = node(c)
        if n.kind == TEST or n.kind == REF:
            for q in inputs_of(c):  # type: ignore[arg-type]
                if q not in found:
                    found.append(q)
            return
        for child in n.children:
            collect(child)

    collect(cond)
    return found


Describe = Callable[[Test, Mapping[str, Any], Mapping[str, float], bool], str]
DescribeRef = Callable[[ItemRef, Tri], str]


def explain(
    cond: Condition,
    facts: Mapping[str, Any],
    params: Mapping[str, float],
    status: Status,
    describe: Describe,
    describe_ref: DescribeRef,
    negated: bool = False,
) -> list[str]:
    """Plain sentences naming the answers and thresholds that decided ``cond``.

    For a decided condition only the parts that decided it are named (for a failed ``all``,
    the failing parts); for an undecided one, the parts still unknown.
    """
    value = _node_values(facts, params, status)  # each part evaluated once

    def walk(n: Node, negated: bool) -> list[str]:
        result = value(n)
        kind = n.kind
        if kind == TEST:
            return [describe(n.cond, facts, params, negated)]  # type: ignore[arg-type]
        if kind == REF:
            shown = result if not negated or result is None else not result
            return [describe_ref(n.cond, shown)]  # type: ignore[arg-type]
        if kind == NOT:
            return walk(n.parts[0], not negated)
        parts = n.parts
        results = [value(p) for p in parts]
        if result is None:
            chosen = [p for p, r in zip(parts, results) if r is None]
        elif kind == ALL:
            chosen = list(parts) if result else [p for p, r in zip(parts, results) if r is False]
        else:
            chosen = [p for p, r in zip(parts, results) if r is True] if result else list(parts)
        out: list[str] = []
        for part in chosen:
            for line in walk(part, negated):
                if line not in out:
                    out.append(line)
        return out

    return walk(node(cond), negated)


def reachable_inputs(
    cond: Condition,
    want: bool,
    facts: Mapping[str, Any],
    params: Mapping[str, float],
    status: Status,
    can_learn: Callable[[str], list[str] | None],
    item_condition: Callable[[str], Condition],
    memo: dict[tuple[Node, bool], list[str] | None] | None = None,
    values: dict[Node, Tri] | None = None,
) -> list[str] | None:
    """The questions whose answers could still make ``cond`` come out ``want``.

    ``None`` when no answer to come can: a part resting on a "don't know" stays unknown
    (``can_learn`` says which questions could still give a subject a value, or None). ``[]``
    when ``cond`` already is ``want``. Alternatives that cannot reach ``want`` are not followed,
    so their questions are not worth asking. The same question appearing twice is assumed
    free each time, so the answer errs towards asking. Calls over the same facts may share
    ``memo`` and ``values`` (each part's value), so no part is worked out twice.
    """
    memo = {} if memo is None else memo
    value = _node_values(facts, params, status, values)

    def reach(n: Node, want: bool) -> list[str] | None:
        key = (n, want)
        if key in memo:
            return memo[key]
        memo[key] = None  # a cycle guard; the knowledge loader refuses cycles
        memo[key] = result = _reach(n, want)
        return result

    def _reach(n: Node, want: bool) -> list[str] | None:
        known = value(n)
        if known is not None:
            return [] if known == want else None
        kind = n.kind
        if kind == TEST:
            return can_learn(n.subject)
        if kind == REF:
            return reach(node(item_condition(n.item)), want)
        if kind == NOT:
            return reach(n.parts[0], not want)
        parts = [reach(part, want) for part in n.parts]
        if (kind == ALL) == want:  # every part must come out ``want``
            if any(p is None for p in parts):
                return None
            chosen = parts
        else:  # any one part will do
            chosen = [p for p in parts if p is not None]
            if not chosen:
                return None
        if len(chosen) == 1:
            return chosen[0]
        # every question once, in the order first met
        return list(dict.fromkeys(q for p in chosen for q in p))  # type: ignore[union-attr]

    return reach(node(cond), want)
