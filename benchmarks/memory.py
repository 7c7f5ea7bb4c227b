"""Part 5: resident memory after 10,000 completed conversations compared with after 100.

The conversations run in a fresh child process (``python -m benchmarks.memory``) so nothing the
other parts allocated is counted: full interviews through ``Session`` and a ``TinyDBStore`` in
a temporary directory, the flows taken in turn, each interview kept in the store as a bot
would keep it. The child prints one JSON line per checkpoint.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Section, random_answers

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux /proc; else peak RSS)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(conversations: int, checkpoints: list[int], store_dir: Path) -> None:
    from dvrules import DVRules
    from dvrules.interview import Session
    from dvrules.store import TinyDBStore

    rules = DVRules()
    store = TinyDBStore(store_dir)
    rng = random.Random(17)
    flows = list(rules.kb.flows)
    pools = {
        f: [random_answers(rules.kb, f, rng, rules.params, dont_know=0.1) for _ in range(40)]
        for f in flows
    }
    print(json.dumps({"at": 0, "rss_mb": rss_mb()}), flush=True)
    t0 = time.perf_counter()
    turns = 0
    for i in range(1, conversations + 1):
        flow = flows[i % len(flows)]
        answers = pools[flow][i % len(pools[flow])]
        session = Session(rules, flow, f"conv-{i}", store)
        while (q := session.next_question()) is not None:
            session.answer(q.id, answers.get(q.id))
            turns += 1
        session.result()
        if i in checkpoints:
            gc.collect()
            rss, objects = rss_mb(), len(gc.get_objects())  # before listing the store
            files, size = 0, 0
            with os.scandir(store_dir) as entries:
                for entry in entries:
                    if entry.name.endswith(".json") and not entry.name.startswith(".tmp-"):
                        files += 1
                        size += entry.stat().st_size
            print(
                json.dumps(
                    {
                        "at": i,
                        "rss_mb": rss,
                        "objects": objects,
                        "store_files": files,
                        "turns": turns,
                        "store_mb": size / 2**20,
                        "seconds": time.perf_counter() - t0,
                    }
                ),
                flush=True,
            )


def run(rules: Any, quick: bool) -> list[Section]:
    total = 12 if quick else 10_000
    checkpoints = [4, 8, 12] if quick else [100, 1000, 2500, 5000, 7500, 10_000]
    section = Section("memory", "5. Memory: resident set after N completed conversations")
    section.columns = [
        "conversations",
        "RSS MB",
        f"RSS growth since {checkpoints[0]:,}, MB",
        "Python objects",
        "sessions stored",
        "store on disk MB",
        "elapsed s",
    ]
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-mem-") as tmp:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.memory",
                "--conversations",
                str(total),
                "--checkpoints",
                ",".join(map(str, checkpoints)),
                "--store",
                tmp,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=3600,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr.strip()[-800:]}")
    points = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    start = points[0]
    marks = {p["at"]: p for p in points[1:]}
    base = marks[checkpoints[0]]
    for at in checkpoints:
        p = marks[at]
        section.rows.append(
            [
                f"{at:,}",
                f"{p['rss_mb']:.1f}",
                f"{p['rss_mb'] - base['rss_mb']:+.1f}",
                f"{p['objects']:,}",
                f"{p['store_files']:,}",
                f"{p['store_mb']:.1f}",
                f"{p['seconds']:.0f}",
            ]
        )
    last = marks[checkpoints[-1]]
    growth = last["rss_mb"] - base["rss_mb"]
    section.data = {"after_start": start, "checkpoints": marks, "growth_mb": growth}
    section.check(
        f"RSS growth from {checkpoints[0]} to {total:,} conversations",
        "< 20 MB",
        f"{growth:+.1f} MB",
        growth < 20,
    )
    section.notes.append(
        f"One fresh process (RSS {start['rss_mb']:.1f} MB with the knowledge loaded and "
        f"compiled) runs {total:,} complete interviews ({last['turns']:,} turns; the flows in "
        f"turn, random answers with 10% don't know), each followed by its full result, through "
        f"`Session` and a `TinyDBStore` that keeps every finished session on disk. A single run "
        f"(one process is the measurement), so no spread. The store holds the sessions on disk, "
        f"not in memory: RSS should not follow it."
    )
    return [section]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args(argv)
    child(args.conversations, [int(c) for c in args.checkpoints.split(",")], args.store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
