"""The engine before and after, side by side: batch evaluation, interview turns, cold start.

    git worktree add /tmp/engine-before <commit>
    python -m benchmarks.engine_compare /tmp/engine-before [--rounds 5] [--quick]

Each round runs one child process per source tree, in turn, so both see the same machine
state; each child imports ``dvrules`` from its own tree and times public calls only:

- *batch*: ``DVRules.evaluate`` and ``DVRules.assess`` over distinct answer sets (more sets
  than the engine keeps live sessions, each evaluated once per pass), the memo of recent
  evaluations off, as a batch assessment or a peer benchmark uses them;
- *turn*: whole interviews, one answer at a time (each answer taken from a random complete
  set, 10% "don't know"), timing ``DVRules.next_question`` per turn: the planner and the
  evaluation of a turn, without the store (the memo of recent evaluations on, as deployed;
  every turn's answers are new, so it never answers a turn);
- *cold start*: a new process from start to the first question of ``referral`` (the
  warm-start cache, where the tree has one, warm from an earlier run).

Speed-ups (before ÷ after) are taken per round; the table gives the median and the range over
rounds. Both trees' results are compared: every decided outcome, every next question and
every assessment result must be identical, or the run fails.

Both trees load the same knowledge: this tree's, or ``DVRULES_KNOWLEDGE`` when set. When the
knowledge's file format changed between the two (the older code cannot read the newer files),
point ``DVRULES_KNOWLEDGE`` at the older tree's ``knowledge/``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import random_answers
from dvrules import DVRules

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ["referral", "cdrp", "bvpi225", "minimum-standards"]

CHILD = r"""
import gc, hashlib, json, sys, time
import dvrules.api
from dvrules import DVRules
dvrules.api.RECENT_EVALUATIONS = 0
work = json.load(open(sys.argv[1]))
rules = DVRules()
out, digest = {}, hashlib.sha256()
def stats(samples):
    samples = sorted(samples)
    return {"p50": samples[len(samples) // 2] * 1e3,
            "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e3,
            "n": len(samples)}
for flow, job in work.items():
    batch, interviews = job["batch"], job["interviews"]
    for a in batch[:5]:
        rules.evaluate(flow, a)
    for name, fn in (("evaluate", lambda a: rules.evaluate(flow, a)[1].decided),
                     ("assess", lambda a: rules.assess(flow, a, checked=True).model_dump())):
        gc.collect()
        samples = []
        for a in batch:
            t0 = time.perf_counter(); r = fn(a); samples.append(time.perf_counter() - t0)
            digest.update(json.dumps(r, sort_keys=True, default=str).encode())
        out[f"{flow}|batch {name}"] = stats(samples)
    dvrules.api.RECENT_EVALUATIONS = 256  # as deployed: each turn's answers are new anyway
    rules.forget_recent()
    gc.collect()
    samples = []
    for full in interviews:
        answers = {}
        while True:
            t0 = time.perf_counter()
            q = rules.next_question(flow, answers)
            samples.append(time.perf_counter() - t0)
            digest.update((q.id if q else "-").encode())
            if q is None or q.id in answers:
                break
            answers[q.id] = full.get(q.id)
    out[f"{flow}|turn next_question"] = stats(samples)
    dvrules.api.RECENT_EVALUATIONS = 0
    for a in job["partial"]:  # not timed: results on partial, shuffled answers must agree
        kept = rules.effective_answers(flow, a)
        wanted = rules.wanted_questions(flow, a)
        result = rules.assess(flow, a, checked=True).model_dump()
        why = [rules.explain(flow, a, item) for item in job["items"]]
        digest.update(json.dumps([kept, wanted, result, why], sort_keys=True, default=str).encode())
print(json.dumps({"figures": out, "digest": digest.hexdigest()}))
"""

COLD = r"""
import sys, time
from dvrules.api import DVRules
rules = DVRules()
q = rules.next_question("referral", {})
print(q.id if q else "-", flush=True)
"""


def _work(rules: DVRules, batch: int, interviews: int) -> dict[str, Any]:
    work: dict[str, Any] = {}
    for flow in FLOWS:
        rng = random.Random(f"engine-compare:{flow}")
        work[flow] = {
            "batch": [
                random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
                for _ in range(batch)
            ],
            "interviews": [
                random_answers(rules.kb, flow, rng, rules.params, dont_know=0.1)
                for _ in range(interviews)
            ],
            "partial": [_partial(rules, flow, rng) for _ in range(interviews * 5)],
            "items": [o.id for o in rules.kb.outcomes_of(flow)][:: max(1, batch // 40)],
        }
    return work


def _partial(rules: DVRules, flow: str, rng: random.Random) -> dict[str, Any]:
    """Some of a random answer set, in shuffled order (so some answers may be moot)."""
    full = list(random_answers(rules.kb, flow, rng, rules.params, dont_know=0.2).items())
    rng.shuffle(full)
    return dict(full[: rng.randint(0, len(full))])


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("DVRULES_KNOWLEDGE", str(ROOT / "knowledge"))
    return env


def _child(tree: Path, work_file: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, work_file],
        capture_output=True,
        text=True,
        cwd=tree,
        env=_env(tree),
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: child failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _cold(tree: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", COLD],
        capture_output=True,
        text=True,
        cwd=tree,
        env=_env(tree),
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: cold start failed: {done.stderr[-2000:]}")
    return time.perf_counter() - t0


def _fmt(values: list[float], digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="the source tree to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and answer sets")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    trees = {"before": args.before.resolve(), "after": ROOT}
    work = _work(DVRules(), 80 if args.quick else 200, 6 if args.quick else 20)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(work, f)
    figures: dict[str, dict[str, list[dict[str, float]]]] = {"before": {}, "after": {}}
    cold: dict[str, list[float]] = {"before": [], "after": []}
    try:
        for tree in trees.values():
            _cold(tree)  # the warm-start cache, where there is one, is written
        for _ in range(rounds):
            digests = {}
            for name, tree in trees.items():
                got = _child(tree, f.name)
                digests[name] = got["digest"]
                for key, fig in got["figures"].items():
                    figures[name].setdefault(key, []).append(fig)
                cold[name] += [_cold(tree) for _ in range(3)]
            if digests["before"] != digests["after"]:
                raise SystemExit("the two trees gave different results: not comparable")
    finally:
        os.unlink(f.name)
    rows = []
    for key in figures["after"]:
        flow, call = key.split("|")
        b, a = figures["before"][key], figures["after"][key]
        cells = [flow, call]
        for stat in ("p50", "p99"):
            cells += [_fmt([x[stat] for x in b]), _fmt([x[stat] for x in a])]
        cells.append(_fmt([x["p50"] / y["p50"] for x, y in zip(b, a)], 2) + "×")
        rows.append(cells)
    ratio = [x / y for x, y in zip(cold["before"], cold["after"])]
    lines = [
        "# The engine before and after: batch evaluation, interview turns, cold start",
        "",
        f"`python -m benchmarks.engine_compare <before tree>{' --quick' if args.quick else ''}`"
        f" ({rounds} rounds, before and after alternating; identical results checked each "
        "round). Milliseconds: median over rounds (lowest–highest round); speed-up = before "
        "p50 ÷ after p50 per round.",
        "",
        "| flow | call | before p50 | after p50 | before p99 | after p99 | speed-up (p50) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += [
        "",
        "Cold start, new process to the first referral question (seconds, "
        f"{len(cold['after'])} processes per tree): before {_fmt(cold['before'])}, "
        f"after {_fmt(cold['after'])} (warm-start cache warm), speed-up {_fmt(ratio, 2)}×.",
        "",
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "engine.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
