"""Shared pieces: timing statistics, answer sets generated from a flow's questions, sections."""

from __future__ import annotations

import gc
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dvrules.answers import check_answers
from dvrules.conditions import leaves, threshold
from dvrules.knowledge import KnowledgeBase
from dvrules.schema import Question, Test

# ---------------------------------------------------------------------- statistics


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100), at least 1
    return sorted_values[int(min(rank, len(sorted_values))) - 1]


def latency_stats(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p99 in milliseconds and operations per second of one run of timed calls."""
    values = sorted(samples_s)
    total = sum(values)
    return {
        "p50_ms": percentile(values, 50) * 1e3,
        "p99_ms": percentile(values, 99) * 1e3,
        "per_s": len(values) / total if total else float("nan"),
        "n": len(values),
    }


@dataclass
class Figure:
    """One figure as the median over repeated runs, with its spread (min and max of the runs)."""

    median: float
    low: float
    high: float
    runs: int
    unit: str = ""

    @classmethod
    def of(cls, values: Iterable[float], unit: str = "") -> Figure:
        vals = [v for v in values if v == v]  # drop NaN
        if not vals:
            return cls(float("nan"), float("nan"), float("nan"), 0, unit)
        return cls(statistics.median(vals), min(vals), max(vals), len(vals), unit)

    def as_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.low,
            "max": self.high,
            "runs": self.runs,
            "unit": self.unit,
        }

    def text(self, digits: int | None = None) -> str:
        if self.runs == 0:
            return "n/a"
        fmt = _formatter(self.median, digits)
        if self.runs == 1 or self.low == self.high:
            return fmt(self.median)
        return f"{fmt(self.median)} ({fmt(self.low)}–{fmt(self.high)})"


def _formatter(value: float, digits: int | None) -> Callable[[float], str]:
    if digits is not None:
        return lambda v: f"{v:,.{digits}f}"
    magnitude = abs(value)
    if magnitude >= 1000:
        return lambda v: f"{v:,.0f}"
    if magnitude >= 100:
        return lambda v: f"{v:.0f}"
    if magnitude >= 10:
        return lambda v: f"{v:.1f}"
    if magnitude >= 1:
        return lambda v: f"{v:.2f}"
    return lambda v: f"{v:.3f}"


def time_calls(fn: Callable[[], Any], count: int) -> list[float]:
    """Seconds taken by each of ``count`` calls of ``fn``."""
    out = []
    clock = time.perf_counter
    for _ in range(count):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def settle() -> None:
    """Collect garbage before a timed run so one run does not pay for another's."""
    gc.collect()


# ---------------------------------------------------------------------- answer sets


def _thresholds(kb: KnowledgeBase, flow: str, params: dict[str, float]) -> dict[str, list[float]]:
    """Numbers that tests of the flow compare each numeric answer with."""
    found: dict[str, list[float]] = {}
    conds = [o.when for o in kb.outcomes_of(flow)]
    conds += [q.ask_when for q in kb.questions.values() if q.ask_when is not None]
    for cond in conds:
        for leaf in leaves(cond):
            if isinstance(leaf, Test) and leaf.op in (
                "at_least",
                "at_most",
                "more_than",
                "less_than",
                "is_",
            ):
                value = threshold(leaf.operand, params)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    for name in [leaf.subject, *_value_parts(kb, leaf.subject)]:
                        found.setdefault(name, []).append(float(value))
    return found


def _value_parts(kb: KnowledgeBase, name: str) -> list[str]:
    if name in kb.values:
        return [p for part in kb.values[name].of for p in [part, *_value_parts(kb, part)]]
    return []


def _number(q: Question, rng: random.Random, near: list[float]) -> float | int:
    lo = q.min if q.min is not None else 0.0
    hi = q.max if q.max is not None else max([lo + 100.0, *[t * 2 for t in near]])
    if near and rng.random() < 0.7:
        value = rng.choice(near) + rng.choice((-1, 0, 1))
    else:
        value = rng.uniform(lo, hi)
    value = min(max(value, lo), hi)
    if q.type == "integer":
        value = int(round(value))
        value = min(max(value, int(-(-lo // 1))), int(hi // 1))
    else:
        value = round(value, 2)
    return value


def extreme_answers(kb: KnowledgeBase, flow: str, favourable: bool) -> dict[str, Any]:
    """A complete answer set leaning to 'yes' and high numbers (most rules fire), or to 'no'
    and low numbers."""
    out: dict[str, Any] = {}
    for qid in kb.flow(flow).questions:
        q = kb.questions[qid]
        choices = [c.id for c in kb.choices(q)]
        if q.type == "yes_no":
            out[qid] = favourable
        elif q.type in ("number", "integer"):
            if favourable:
                value = q.max if q.max is not None else (q.min or 0) + 100
            else:
                value = q.min if q.min is not None else 0
                value = -(-value // 1) if q.type == "integer" else value
            out[qid] = int(value) if q.type == "integer" else float(value)
        elif q.type == "choice":
            out[qid] = choices[0] if favourable else choices[-1]
        else:
            out[qid] = choices if favourable else []
    return check_answers(kb, flow, out)


def random_answers(
    kb: KnowledgeBase,
    flow: str,
    rng: random.Random,
    params: dict[str, float],
    dont_know: float = 0.0,
) -> dict[str, Any]:
    """A random valid answer to every question; numbers cluster around the flow's thresholds."""
    near = _thresholds(kb, flow, params)
    out: dict[str, Any] = {}
    for qid in kb.flow(flow).questions:
        q = kb.questions[qid]
        if dont_know and rng.random() < dont_know:
            out[qid] = None
        elif q.type == "yes_no":
            out[qid] = rng.random() < 0.6
        elif q.type in ("number", "integer"):
            out[qid] = _number(q, rng, near.get(qid, []))
        elif q.type == "choice":
            out[qid] = rng.choice(kb.choices(q)).id
        else:
            ids = [c.id for c in kb.choices(q)]
            out[qid] = [i for i in ids if rng.random() < 0.4]
    return check_answers(kb, flow, out)


def answer_pool(
    kb: KnowledgeBase, flow: str, params: dict[str, float], size: int, seed: int = 5
) -> list[dict[str, Any]]:
    """The favourable and unfavourable sets plus random ones: ``size`` complete answer sets."""
    rng = random.Random(f"{seed}:{flow}")
    pool = [extreme_answers(kb, flow, True), extreme_answers(kb, flow, False)]
    while len(pool) < size:
        pool.append(random_answers(kb, flow, rng, params))
    return pool[:size]


# ---------------------------------------------------------------------- sections


@dataclass
class Section:
    """One part of the report: a table, notes and budget lines, or the reason it was skipped."""

    key: str
    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    budget: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"  # ok | skipped | error
    reason: str = ""
    seconds: float = 0.0

    def check(self, what: str, target: str, measured: str, met: bool) -> None:
        self.budget.append({"what": what, "target": target, "measured": measured, "met": met})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Section:
        return cls(
            key=d["key"],
            title=d["title"],
            columns=d["columns"],
            rows=d["rows"],
            data=d["data"],
            notes=d["notes"],
            budget=d["budget"],
            status=d["status"],
            reason=d["reason"],
            seconds=d["seconds"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "seconds": round(self.seconds, 2),
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
            "budget": self.budget,
            "data": self.data,
        }


def fig_dict(fig: Figure) -> dict[str, Any]:
    return fig.as_dict()
