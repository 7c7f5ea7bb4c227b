"""Part 2: one interview turn (``answer()`` + ``next_question()``, with the store write) at 10,
10,000 and 100,000 stored sessions, in the TinyDB store (one file per session in a directory)
and in Redis (a ``redis-server`` started here on a free port, when one is installed)."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, Section, latency_stats, random_answers, settle
from dvrules import DVRules, open_store
from dvrules.interview import Session
from dvrules.store import SessionStore, TinyDBStore


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


def populate(store: SessionStore, count: int, templates: list[dict[str, Any]]) -> float:
    """Put ``count`` finished sessions in the store as fast as it allows; the seconds it took.

    The TinyDB store gets its files written directly (the same name and content ``save``
    writes, without a sync per file), Redis one pipelined ``SET`` per session with the
    store's expiry; any other store goes through ``save``.
    """
    t0 = time.perf_counter()
    now = time.time()
    records = (
        (f"stored-{i}", {**copy.deepcopy(templates[i % len(templates)]), "updated": now})
        for i in range(count)
    )
    key_of = getattr(store, "_key", None)
    client = getattr(store, "client", None)
    if isinstance(store, TinyDBStore) and hasattr(store, "_path"):
        for sid, record in records:
            store._path(sid).write_text(
                json.dumps({store.TABLE: {"1": record}}, separators=(",", ":")),
                encoding="utf-8",
            )
        os.sync()
    elif key_of is not None and client is not None:
        ttl_ms = max(1, int(getattr(store, "ttl_seconds", 86_400) * 1000))
        pipe = client.pipeline(transaction=False)
        for n, (sid, record) in enumerate(records, 1):
            pipe.set(key_of(sid), json.dumps(record, separators=(",", ":")), px=ttl_ms)
            if n % 5000 == 0:
                pipe.execute()
        pipe.execute()
    else:
        for sid, record in records:
            store.save(sid, record)
    return time.perf_counter() - t0


def directory_cost(store: TinyDBStore) -> dict[str, float]:
    """What a directory of that many session files costs: listing it, counting sessions, its
    size on disk (the files and the directory itself)."""
    t0 = time.perf_counter()
    names = os.listdir(store.directory)
    listed = time.perf_counter() - t0
    t0 = time.perf_counter()
    count = store.count()
    counted = time.perf_counter() - t0
    size = sum(entry.stat().st_blocks * 512 for entry in os.scandir(store.directory))
    return {
        "entries": len(names),
        "sessions": count,
        "listdir_s": listed,
        "count_s": counted,
        "disk_mb": size / 1e6,
        "directory_kb": os.stat(store.directory).st_size / 1e3,
    }


@contextlib.contextmanager
def stores(sizes: list[int], tmp: str) -> Iterator[dict[str, dict[int, SessionStore]]]:
    """A TinyDB store per size, and a Redis store per size (one database each) when
    ``redis-server`` is installed."""
    out: dict[str, dict[int, SessionStore]] = {
        "TinyDB": {size: TinyDBStore(Path(tmp) / f"store-{size}") for size in sizes}
    }
    redis = None
    if shutil.which("redis-server") and shutil.which("redis-cli"):
        from benchmarks.scale import RedisServer

        redis = RedisServer(tmp)
    try:
        if redis is not None:
            out["Redis"] = {
                size: open_store(f"redis://127.0.0.1:{redis.port}/{n}")
                for n, size in enumerate(sizes)
            }
        yield out
    finally:
        if redis is not None:
            redis.close()


def forget_recent(rules: DVRules) -> None:
    """Empty the memo of recent evaluations (``DVRules`` keeps the last few hundred)."""
    recent = getattr(rules, "_recent", None)
    if recent is not None:
        with rules._recent_lock:
            recent.clear()


def conversation(
    rules: DVRules, flow: str, store: SessionStore, sid: str, answers: dict[str, Any]
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
    sizes = [10, 1000] if quick else [10, 10_000, 100_000]
    repeats = 1 if quick else 3
    per_run = 1 if quick else 2  # conversations per flow per store size per repeat
    section = Section("turn", "2. Interview turn: answer + next question + store write")
    section.columns = [
        "store",
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
    flows = list(rules.kb.flows)
    stats: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    fill_s: dict[str, dict[int, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="dvrules-bench-store-") as tmp,
        stores(sizes, tmp) as kinds,
    ):
        for kind, by_size in kinds.items():
            fill_s[kind] = {size: populate(by_size[size], size, templates) for size in sizes}
        tiny = kinds["TinyDB"][sizes[-1]]
        assert isinstance(tiny, TinyDBStore)
        section.data["directory"] = directory_cost(tiny)
        section.data["populate_seconds"] = fill_s
        for _ in range(repeats):
            for flow in flows:
                sets = [
                    random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
                    for _ in range(per_run)
                ]
                for kind, by_size in kinds.items():
                    for size in sizes:  # the same conversations everywhere, side by side
                        forget_recent(rules)  # no size may reuse evaluations another one made
                        settle()
                        turns: list[float] = []
                        for answers in sets:
                            sid = f"bench-{next(counter)}"
                            turns += conversation(rules, flow, by_size[size], sid, answers)
                        stats.setdefault((kind, flow, size), []).append(latency_stats(turns))
        section.data["stored_at_end"] = {
            kind: {size: by_size[size].count() for size in sizes} for kind, by_size in kinds.items()
        }
    for kind in kinds:
        for flow in flows:
            base = stats[(kind, flow, sizes[0])]
            for size in sizes:
                runs = stats[(kind, flow, size)]
                p50, p99 = (Figure.of(r[k] for r in runs) for k in ("p50_ms", "p99_ms"))
                per_s = Figure.of(r["per_s"] for r in runs)
                r50 = Figure.of(r["p50_ms"] / b["p50_ms"] for r, b in zip(runs, base))
                r99 = Figure.of(r["p99_ms"] / b["p99_ms"] for r, b in zip(runs, base))
                # TinyDB's figures stay at the top level (``flow@size``, read by the profile
                # part); other stores' under their name
                where = section.data if kind == "TinyDB" else section.data.setdefault(kind, {})
                where[f"{flow}@{size}"] = {
                    "p50_ms": p50.as_dict(),
                    "p99_ms": p99.as_dict(),
                    "per_s": per_s.as_dict(),
                    "p50_ratio": r50.as_dict(),
                    "p99_ratio": r99.as_dict(),
                    "turns_per_run": runs[0]["n"],
                }
                section.rows.append(
                    [
                        kind,
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
            (Figure.of(r["p99_ms"] for r in stats[(kind, f, big)]) for f in flows),
            key=lambda f: f.median,
        )
        worst_ratio = max(
            (
                Figure.of(
                    r["p99_ms"] / b["p99_ms"]
                    for r, b in zip(stats[(kind, f, big)], stats[(kind, f, small)])
                )
                for f in flows
            ),
            key=lambda f: f.median,
        )
        section.check(
            f"{kind}: turn p99 at {big:,} stored sessions (slowest flow)",
            "< 1 ms",
            f"{worst_p99.text()} ms",
            worst_p99.median < 1,
        )
        section.check(
            f"{kind}: turn p99 at {big:,} ÷ at {small} (largest of the flows)",
            "< 2×",
            f"{worst_ratio.text(2)}×",
            worst_ratio.median < 2,
        )
    d = section.data["directory"]
    fills = "; ".join(
        f"{kind}: " + ", ".join(f"{size:,} in {t:.1f} s" for size, t in by.items())
        for kind, by in fill_s.items()
    )
    section.notes += [
        f"A turn is `Session.answer()` (validate, lock, read, write) plus "
        f"`Session.next_question()` (read, evaluate, choose) on a store already holding that "
        f"many finished sessions ({fills}; TinyDB's files written directly and synced once, "
        f"Redis through a pipeline). TinyDB writes each session file with fsync and an atomic "
        f"rename; Redis saves with a token-checked script. Each run plays the same "
        f"{per_run} random interview(s) per flow (10% don't know) on every store and size in "
        f"turn, so the ratios compare like with like (the memo of recent evaluations is "
        f"emptied before each); each conversation is erased afterwards so the store keeps its "
        f"size." + ("" if "Redis" in kinds else " Redis: not measured (no redis-server)."),
        f"The TinyDB directory at {d['entries']:,} entries: {d['disk_mb']:.0f} MB on disk, the "
        f"directory itself {d['directory_kb']:,.0f} kB; listing it takes "
        f"{d['listdir_s'] * 1e3:,.0f} ms and `count()` {d['count_s'] * 1e3:,.0f} ms. A turn "
        f"opens its one file by name, so it does not list the directory; expiry "
        f"(`purge_expired`) reads every file.",
    ]
    return [section]
