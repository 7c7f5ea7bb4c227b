"""Before / after: the same measurements on two source trees, side by side, as ratios.

    git worktree add /tmp/before <commit>        # a tree to compare with
    python -m benchmarks.ab /tmp/before [/tmp/step2 ...] [--rounds 7] [--out DIR]

Each round runs one child process per tree (in turn, so all see the same machine state), each
importing ``dvrules`` from its own tree and timing the same public calls on the same answer
sets (generated here, passed as JSON). Speed-ups (earlier ÷ later) are taken per round, then
the median and spread over rounds are reported. Both trees should be able to load the
same knowledge (``DVRULES_KNOWLEDGE`` is set to this tree's knowledge unless already set).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import Figure, random_answers

ROOT = Path(__file__).resolve().parent.parent

# The child: public API only, so it runs unchanged against any version of dvrules.
CHILD = r"""
import json, sys, time, gc, tempfile
import dvrules.api
from dvrules import DVRules
dvrules.api.RECENT_EVALUATIONS = 0  # where it exists: the same answer sets come round again
from dvrules.interview import Session
from dvrules.store import TinyDBStore
sets = json.load(open(sys.argv[1]))
rules = DVRules()
out = {}
def p50(samples):
    samples = sorted(samples)
    return samples[len(samples) // 2] * 1e3
for flow, pool in sets.items():
    for a in pool:  # warm up: first evaluations of a ruleset, caches
        rules.evaluate(flow, a)
    for name, fn in (("evaluate", lambda a: rules.evaluate(flow, a)),
                     ("next_question", lambda a: rules.next_question(flow, a)),
                     ("assess", lambda a: rules.assess(flow, a, checked=True))):
        gc.collect()
        samples = []
        for _ in range(int(sys.argv[2])):
            for a in pool:
                t0 = time.perf_counter(); fn(a); samples.append(time.perf_counter() - t0)
        out[f"{flow} {name}"] = p50(samples)
    with tempfile.TemporaryDirectory() as tmp:
        store = TinyDBStore(tmp)
        samples = []
        for i, a in enumerate(pool[:4]):
            s = Session(rules, flow, f"ab-{i}", store)
            q = s.next_question()
            while q is not None:
                t0 = time.perf_counter()
                s.answer(q.id, a.get(q.id))
                q = s.next_question()
                samples.append(time.perf_counter() - t0)
        out[f"{flow} turn"] = p50(samples)
print(json.dumps(out))
"""


def _child(tree: Path, sets_file: Path, loops: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("DVRULES_KNOWLEDGE", str(ROOT / "knowledge"))
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(sets_file), str(loops)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{tree}: {proc.stderr.strip()[-800:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(trees: list[Path], rounds: int, loops: int) -> dict[str, Any]:
    """Per measurement: each tree's p50 (figure over rounds), and speed-ups taken per round
    against the previous tree (``step``) and against the first (``total``)."""
    from dvrules import DVRules

    rules = DVRules()
    rng = random.Random(23)
    sets = {
        f: [random_answers(rules.kb, f, rng, rules.params, dont_know=0.1) for _ in range(12)]
        for f in rules.kb.flows
    }
    runs: list[list[dict[str, float]]] = [[] for _ in trees]
    with tempfile.TemporaryDirectory() as tmp:
        sets_file = Path(tmp) / "sets.json"
        sets_file.write_text(json.dumps(sets))
        for _ in range(rounds):
            for i, tree in enumerate(trees):  # alternating: each round runs every tree once
                runs[i].append(_child(tree, sets_file, loops))
    result: dict[str, Any] = {}
    for key in runs[-1][0]:
        entry: dict[str, Any] = {
            "p50_ms": [Figure.of(r[key] for r in tree_runs).as_dict() for tree_runs in runs]
        }
        entry["step"] = [None] + [
            Figure.of(b[key] / a[key] for b, a in zip(runs[i - 1], runs[i])).as_dict()
            for i in range(1, len(trees))
        ]
        entry["total"] = Figure.of(b[key] / a[key] for b, a in zip(runs[0], runs[-1])).as_dict()
        result[key] = entry
    return result


def _fig(d: dict[str, Any]) -> Figure:
    return Figure(d["median"], d["min"], d["max"], d["runs"])


def markdown(result: dict[str, Any], trees: list[Path], names: list[str], rounds: int) -> str:
    lines = [
        "# Before / after",
        "",
        f"{rounds} rounds; in each, one process per tree in this order, so all see the same "
        "machine state. p50 in milliseconds: median over rounds (lowest–highest round). "
        "Speed-ups are earlier ÷ later, taken per round.",
        "",
    ]
    lines += [f"- **{n}**: `{t}`" for n, t in zip(names, trees)]
    head = ["flow", "call", *[f"{n} p50 ms" for n in names]]
    head += [f"{names[i - 1]} → {names[i]}" for i in range(1, len(names))]
    if len(names) > 2:
        head.append(f"{names[0]} → {names[-1]}")
    lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, r in result.items():
        flow, call = key.rsplit(" ", 1)
        cells = [flow, call, *[_fig(f).text() for f in r["p50_ms"]]]
        cells += [_fig(f).text(2) + "×" for f in r["step"][1:]]
        if len(names) > 2:
            cells.append(_fig(r["total"]).text(2) + "×")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.ab",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "trees",
        type=Path,
        nargs="+",
        help="source trees holding dvrules/, oldest first; this tree is "
        "added last unless --no-current",
    )
    parser.add_argument("--no-current", action="store_true")
    parser.add_argument("--names", default=None, help="comma-separated short names")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--loops", type=int, default=15, help="passes over the answer sets")
    parser.add_argument("--out", type=Path, default=None, help="write ab.md and ab.json here")
    args = parser.parse_args(argv)
    trees = [t.resolve() for t in args.trees] + ([] if args.no_current else [ROOT])
    names = (
        args.names.split(",")
        if args.names
        else [f"tree {i}" for i in range(len(trees) - 1)] + ["this tree"]
    )
    if len(names) != len(trees) or len(trees) < 2:
        parser.error("give at least two trees in all, and one name per tree")
    result = compare(trees, args.rounds, args.loops)
    text = markdown(result, trees, names, args.rounds)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "ab.md").write_text(text, encoding="utf-8")
        (args.out / "ab.json").write_text(
            json.dumps(
                {
                    "trees": [str(t) for t in trees],
                    "names": names,
                    "rounds": args.rounds,
                    "result": result,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
