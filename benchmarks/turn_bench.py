"""Part 2: one interview turn (``answer()`` + ``next_question()``, with the store write) at 10,
1,000 and 10,000 stored sessions."""

from __future__ import annotations

import copy
import itertools
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Section, latency_stats, random_answers, settle
from dvrules import DVRules
from dvrules.interview import Session
from dvrules.store import TinyDBStore


def template_records(rules: DVRules) -> list[dict[str, Any]]:
    """Realistic stored records: one finished interview per flow, run through a real Session."""
    rng = random.Random(11)
    out = []
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-tpl-") as tmp:
        store = TinyDBStore(tmp)
        for flow in rules.kb.flows:
            answers = random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
            s = Session(rules, flow, "template", store)
            while (q := s.next_question()) is not None:
                s.answer(q.id, answers.get(q.id))
            out.append(store.load("template"))
            store.delete("template")
    return out


def populate(store: TinyDBStore, count: int, templates: list[dict[str, Any]]) -> float:
    """Save ``count`` finished sessions through the store; returns the seconds it took."""
    t0 = time.perf_counter()
    for i in range(count):
        record = copy.deepcopy(templates[i % len(templates)])
        record["id"] = f"stored-{i}"
        store.save(f"stored-{i}", record)
    return time.perf_counter() - t0


def forget_recent(rules: DVRules) -> None:
    """Empty the memo of recent evaluations (``DVRules`` keeps the last few hundred)."""
    recent = getattr(rules, "_recent", None)
    if recent is not None:
        with rules._recent_lock:
            recent.clear()


def conversation(
    rules: DVRules, flow: str, store: TinyDBStore, sid: str, answers: dict[str, Any]
) -> list[float]:
    """One interview to the end; the seconds of each turn (answer + next question)."""
    session = Session(rules, flow, sid, store)
    question = session.next_question()
    turns = []
    clock = time.perf_counter
    while question is not None:
        t0 = clock()
        session.answer(question.id, answers.get(question.id))
        question = session.next_question()
        turns.append(clock() - t0)
    session.forget()  # keep the store at its size
    return turns


def run(rules: DVRules, quick: bool) -> list[Section]:
    sizes = [10, 100] if quick else [10, 1000, 10000]
    repeats = 2 if quick else 5
    per_run = 1 if quick else 4  # conversations per flow per store size per repeat
    section = Section("turn", "2. Interview turn: answer + next question + store write")
    section.columns = [
        "flow",
        "stored sessions",
        "turn p50 ms",
        "turn p99 ms",
        "turns/s",
        f"p50 ÷ at {sizes[0]}",
        f"p99 ÷ at {sizes[0]}",
    ]
    rng = random.Random(3)
    templates = template_records(rules)
    counter = itertools.count()
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-store-") as tmp:
        stores = {}
        fill_s = {}
        for size in sizes:
            stores[size] = TinyDBStore(Path(tmp) / f"store-{size}")
            fill_s[size] = populate(stores[size], size, templates)
        section.data["populate_seconds"] = fill_s
        stats: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(repeats):
            for flow in rules.kb.flows:
                sets = [
                    random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
                    for _ in range(per_run)
                ]
                for size in sizes:  # the same conversations at every size, side by side
                    forget_recent(rules)  # no size may reuse evaluations another one made
                    settle()
                    turns: list[float] = []
                    for answers in sets:
                        turns += conversation(
                            rules, flow, stores[size], f"bench-{next(counter)}", answers
                        )
                    stats.setdefault((flow, size), []).append(latency_stats(turns))
        section.data["stored_at_end"] = {size: stores[size].count() for size in sizes}
    for flow in rules.kb.flows:
        base = stats[(flow, sizes[0])]
        for size in sizes:
            runs = stats[(flow, size)]
            p50, p99 = (Figure.of(r[k] for r in runs) for k in ("p50_ms", "p99_ms"))
            per_s = Figure.of(r["per_s"] for r in runs)
            r50 = Figure.of(r["p50_ms"] / b["p50_ms"] for r, b in zip(runs, base))
            r99 = Figure.of(r["p99_ms"] / b["p99_ms"] for r, b in zip(runs, base))
            section.data[f"{flow}@{size}"] = {
                "p50_ms": p50.as_dict(),
                "p99_ms": p99.as_dict(),
                "per_s": per_s.as_dict(),
                "p50_ratio": r50.as_dict(),
                "p99_ratio": r99.as_dict(),
                "turns_per_run": runs[0]["n"],
            }
            section.rows.append(
                [
                    flow,
                    f"{size:,}",
                    p50.text(),
                    p99.text(),
                    per_s.text(),
                    "" if size == sizes[0] else r50.text(2) + "×",
                    "" if size == sizes[0] else r99.text(2) + "×",
                ]
            )
    big, small = sizes[-1], sizes[0]
    worst_p99 = max(
        (Figure.of(r["p99_ms"] for r in stats[(f, big)]) for f in rules.kb.flows),
        key=lambda f: f.median,
    )
    worst_ratio = max(
        (
            Figure.of(r["p99_ms"] / b["p99_ms"] for r, b in zip(stats[(f, big)], stats[(f, small)]))
            for f in rules.kb.flows
        ),
        key=lambda f: f.median,
    )
    section.check(
        f"turn p99 at {big:,} stored sessions (slowest flow)",
        "< 10 ms",
        f"{worst_p99.text()} ms",
        worst_p99.median < 10,
    )
    section.check(
        f"turn p99 at {big:,} ÷ at {small} (largest of the flows)",
        "< 2×",
        f"{worst_ratio.text(2)}×",
        worst_ratio.median < 2,
    )
    section.notes += [
        f"A turn is `Session.answer()` (validate, lock, read, write the session file with "
        f"fsync and an atomic rename) plus `Session.next_question()` (read, evaluate, choose) "
        f"on a `TinyDBStore` already holding that many finished sessions (saved through "
        f"`TinyDBStore.save`: {', '.join(f'{s:,} in {fill_s[s]:.1f}s' for s in sizes)}). "
        f"Each run plays the same {per_run} random interview(s) per flow (10% don't know) "
        f"at every store size in turn, so the ratios compare like with like (the memo of "
        f"recent evaluations is emptied before each, so no size reuses another's work); each "
        f"conversation is erased afterwards so the store keeps its size.",
    ]
    return [section]
