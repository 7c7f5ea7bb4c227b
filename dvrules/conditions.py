"""Three-valued logic over knowledge conditions, shared by every consumer of a condition.

The rules engine decides outcomes; this module answers the questions around a decision that a
person asks: *why* (``explain``), *what would decide it* (``open_inputs``), and whether an
interview question is still wanted (``evaluate`` on ``ask_when``). It is also the core of the
plain-Python reference evaluator that tests use to cross-check durable_rules.

Facts are a flat dict: answer ids and derived value ids mapped to known values. A missing key
means unknown (not asked, "don't know", or not computable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dvrules.schema import All, AnyOf, Condition, ItemRef, Not, ParamRef, Test

Tri = bool | None  # True, False, or None for unknown
Status = Callable[[str], Tri]  # whether another outcome holds


def threshold(operand: Any, params: Mapping[str, float]) -> Any:
    """A test's operand with parameters resolved to numbers."""
    return params[operand.param] if isinstance(operand, ParamRef) else operand


def test_holds(test: Test, facts: Mapping[str, Any], params: Mapping[str, float]) -> Tri:
    """One leaf. Unknown when its subject has no known value."""
    if test.subject not in facts:
        return None
    value = facts[test.subject]
    op = test.op  # a property that scans the operators: read it once
    want = threshold(getattr(test, op), params)
    if op == "is_":
        return value == want and isinstance(value, bool) == isinstance(want, bool)
    if op == "in_":
        return value in want
    if op == "count_at_least":
        return bool(len(value) >= want)
    if op == "includes":
        return want in value
    compared: dict[str, bool] = {
        "at_least": value >= want,
        "at_most": value <= want,
        "more_than": value > want,
        "less_than": value < want,
    }
    return compared[op]


def evaluate(
    cond: Condition, facts: Mapping[str, Any], params: Mapping[str, float], status: Status
) -> Tri:
    """Kleene evaluation: false dominates ``all``, true dominates ``any``."""
    if isinstance(cond, Test):
        return test_holds(cond, facts, params)
    if isinstance(cond, ItemRef):
        return status(cond.item)
    if isinstance(cond, Not):
        inner = evaluate(cond.not_, facts, params, status)
        return None if inner is None else not inner
    parts = [evaluate(c, facts, params, status) for c in _children(cond)]
    if isinstance(cond, All):
        return False if False in parts else (None if None in parts else True)
    return True if True in parts else (None if None in parts else False)


def _children(cond: Condition) -> list[Condition]:
    if isinstance(cond, All):
        return cond.all
    if isinstance(cond, AnyOf):
        return cond.any
    if isinstance(cond, Not):
        return [cond.not_]
    return []


def leaves(cond: Condition) -> Iterable[Test | ItemRef]:
    """Every test and item reference in a condition, in order."""
    if isinstance(cond, (Test, ItemRef)):
        yield cond
    for child in _children(cond):
        yield from leaves(child)


def _remembering(
    facts: Mapping[str, Any], params: Mapping[str, float], status: Status
) -> Callable[[Condition], Tri]:
    """``evaluate`` that remembers each part's value (by node) for one walk of a condition."""
    values: dict[int, Tri] = {}

    def value(c: Condition) -> Tri:
        key = id(c)
        if key not in values:
            if isinstance(c, Test):
                values[key] = test_holds(c, facts, params)
            elif isinstance(c, ItemRef):
                values[key] = status(c.item)
            elif isinstance(c, Not):
                inner = value(c.not_)
                values[key] = None if inner is None else not inner
            else:
                parts = [value(child) for child in _children(c)]
                if isinstance(c, All):
                    values[key] = False if False in parts else (None if None in parts else True)
                else:
                    values[key] = True if True in parts else (None if None in parts else False)
        return values[key]

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
        if isinstance(c, (Test, ItemRef)):
            for q in inputs_of(c):
                if q not in found:
                    found.append(q)
            return
        for child in _children(c):
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
    value = _remembering(facts, params, status)  # each part evaluated once

    def walk(cond: Condition, negated: bool) -> list[str]:
        result = value(cond)
        if isinstance(cond, Test):
            return [describe(cond, facts, params, negated)]
        if isinstance(cond, ItemRef):
            return [describe_ref(cond, result if not negated or result is None else not result)]
        if isinstance(cond, Not):
            return walk(cond.not_, not negated)
        children = _children(cond)
        results = [value(c) for c in children]
        if result is None:
            chosen = [c for c, r in zip(children, results) if r is None]
        elif isinstance(cond, All):
            chosen = children if result else [c for c, r in zip(children, results) if r is False]
        else:
            chosen = [c for c, r in zip(children, results) if r is True] if result else children
        out: list[str] = []
        for child in chosen:
            for line in walk(child, negated):
                if line not in out:
                    out.append(line)
        return out

    return walk(cond, negated)


def reachable_inputs(
    cond: Condition,
    want: bool,
    facts: Mapping[str, Any],
    params: Mapping[str, float],
    status: Status,
    can_learn: Callable[[str], list[str] | None],
    item_condition: Callable[[str], Condition],
    memo: dict[tuple[int, bool], list[str] | None] | None = None,
) -> list[str] | None:
    """The questions whose answers could still make ``cond`` come out ``want``.

    ``None`` when no answer to come can: a part resting on a "don't know" stays unknown
    (``can_learn`` says which questions could still give a subject a value, or None). ``[]``
    when ``cond`` already is ``want``. Alternatives that cannot reach ``want`` are not followed,
    so their questions are not worth asking. The same question appearing twice is assumed
    free each time, so the answer errs towards asking.
    """
    memo = {} if memo is None else memo
    value = _remembering(facts, params, status)

    def reach(c: Condition, want: bool) -> list[str] | None:
        key = (id(c), want)
        if key in memo:
            return memo[key]
        memo[key] = None  # a cycle guard; the knowledge loader refuses cycles
        memo[key] = result = _reach(c, want)
        return result

    def _reach(c: Condition, want: bool) -> list[str] | None:
        known = value(c)
        if known is not None:
            return [] if known == want else None
        if isinstance(c, Test):
            return can_learn(c.subject)
        if isinstance(c, ItemRef):
            return reach(item_condition(c.item), want)
        if isinstance(c, Not):
            return reach(c.not_, not want)
        parts = [reach(child, want) for child in _children(c)]
        if isinstance(c, All) == want:  # every part must come out ``want``
            if any(p is None for p in parts):
                return None
            chosen = parts
        else:  # any one part will do
            chosen = [p for p in parts if p is not None]
            if not chosen:
                return None
        found: list[str] = []
        for p in chosen:
            found += [q for q in p if q not in found]  # type: ignore[union-attr]
        return found

    return reach(cond, want)
