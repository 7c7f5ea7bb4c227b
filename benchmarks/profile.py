"""Part 6: a pyinstrument profile of the slowest path, saved as text beside the results.

The slowest path a person waits on is an interview turn of the heaviest flow (the one with the
highest turn p50 in part 2, else the flow with most engine rules), followed by its result.
"""

from __future__ import annotations

import random
import re
import tempfile
from pathlib import Path

from benchmarks.common import Section, random_answers
from dvrules import DVRules
from dvrules.engine import compile_flow
from dvrules.interview import Session
from dvrules.store import TinyDBStore

FLAT_LINE = re.compile(r"^\s*(\d+\.\d+)\s+(.*?)\s{2,}(\S.*)$")


def slowest_flow(rules: DVRules, sections: list[Section]) -> str:
    for s in sections:
        if s.key == "turn" and s.status == "ok":
            best = max(
                ((k.split("@")[0], v["p50_ms"]["median"]) for k, v in s.data.items() if "@" in k),
                key=lambda kv: kv[1],
                default=None,
            )
            if best:
                return best[0]
    return max(rules.kb.flows, key=lambda f: len(compile_flow(rules.kb, f, rules.params)))


def run(rules: DVRules, quick: bool, out: Path, sections: list[Section]) -> list[Section]:
    from pyinstrument import Profiler

    flow = slowest_flow(rules, sections)
    conversations = 1 if quick else 60
    rng = random.Random(29)
    sets = [
        random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
        for _ in range(conversations)
    ]
    profiler = Profiler(interval=0.0002 if quick else 0.0005)
    turns = 0
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-prof-") as tmp:
        store = TinyDBStore(tmp)
        for answers in sets[:1]:  # warm up outside the profile
            s = Session(rules, flow, "warm", store)
            while (q := s.next_question()) is not None:
                s.answer(q.id, answers.get(q.id))
        profiler.start()
        for i, answers in enumerate(sets):
            s = Session(rules, flow, f"p{i}", store)
            while (q := s.next_question()) is not None:
                s.answer(q.id, answers.get(q.id))
                turns += 1
            s.result()
        profiler.stop()
    tree = profiler.output_text(unicode=False, color=False)
    flat = profiler.output_text(unicode=False, color=False, flat=True, flat_time="self")
    path = out / "profile.txt"
    path.write_text(
        f"Profile of the slowest path: {conversations} complete {flow} interviews "
        f"({turns} turns: Session.answer + Session.next_question with a TinyDBStore), each "
        f"followed by Session.result(). pyinstrument, wall clock.\n\n"
        f"=== where the time goes (call tree) ===\n{tree}\n"
        f"=== functions by own time (flat) ===\n{flat}",
        encoding="utf-8",
    )
    section = Section("profile", f"6. Profile of the slowest path ({flow} interview turns)")
    section.columns = ["own time s", "share", "function", "where"]
    rows: list[tuple[float, str, str]] = []
    for line in flat.splitlines():
        m = FLAT_LINE.match(line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    total = sum(r[0] for r in rows) or 1.0
    for seconds, function, where in rows[:15]:
        section.rows.append(
            [f"{seconds:.3f}", f"{seconds / total:.0%}", f"`{function}`", f"`{where}`"]
        )
    section.data = {
        "flow": flow,
        "conversations": conversations,
        "turns": turns,
        "file": path.name,
        "by_group": _groups(rows, total),
    }
    groups = ", ".join(f"{k} {v:.0%}" for k, v in section.data["by_group"].items())
    section.notes += [
        f"The full call tree and flat listing are in [`{path.name}`]({path.name}). "
        f"Own time by area: {groups}.",
    ]
    return [section]


def _groups(rows: list[tuple[float, str, str]], total: float) -> dict[str, float]:
    """Own time grouped into the layers a turn passes through."""
    layers = {
        "durable_rules (C core and its Python layer)": ("durable", "<built-in>"),
        "dvrules engine glue": ("dvrules/engine.py",),
        "store and files (tinydb, json, os)": (
            "tinydb",
            "dvrules/store.py",
            "json/",
            "posixpath",
            "pathlib",
            "tempfile",
            "os.py",
            "fcntl",
            "hashlib",
        ),
        "conditions, answers, results, api": ("dvrules/",),
        "pydantic": ("pydantic",),
    }
    out: dict[str, float] = {k: 0.0 for k in layers}
    out["other"] = 0.0
    for seconds, _function, where in rows:
        for name, marks in layers.items():
            if any(m in where for m in marks):
                out[name] += seconds
                break
        else:
            out["other"] += seconds
    return {k: v / total for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v}
