"""Peer benchmark: the same assessments through dvrules and other rule engines, side by side.

    python -m benchmarks.peer                  # full: 100, 500 and 2,000 rules (a few minutes)
    python -m benchmarks.peer --quick          # smoke: 100 rules, few repeats (under a minute)
    python -m benchmarks.peer --engines python,durable-plain --sizes 100,500

One generated workload (``benchmarks/peer_workload.py``: levels of requirements with yes/no
tests, thresholds, counts and level chaining, in dvrules' knowledge schema) and a set of
seeded answer sets go through every engine of ``benchmarks/peer_engines.py``, each in a fresh
process. Every engine's result for every answer set is checked against the hand-written Python
evaluator before anything is timed, and the digests of all engines' results are compared: any
difference fails the run (exit status 1), after the table is written.

Each worker times its engine and the Python evaluator in turn, ``repeats`` times, in the same
process: an engine's figure is the median of its evaluations per second over the repeats with
the interquartile range, and its ratio is how many times slower than the Python evaluator it
ran in the same repeats (median and IQR of the per-repeat ratios), so machine load that comes
and goes cancels out of the ratio more than out of the rates.

The table goes to ``benchmarks/results/peer.md`` (and ``peer.json``), or to ``--out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FULL_SIZES = (100, 500, 2000)
QUICK_SIZES = (100,)


class PeerMismatch(RuntimeError):
    """An engine gave a different result from the Python evaluator for some answer set."""


# ---------------------------------------------------------------------- the worker (one engine)


def _rate(fn: Any, sets: Sequence[Any], budget_s: float, start: int) -> tuple[float, int]:
    """Evaluations per second of ``fn`` cycling through ``sets`` for about ``budget_s`` seconds
    (at least three calls); returns the rate and where the cycle stopped."""
    clock = time.perf_counter
    calls, i = 0, start
    t0 = clock()
    elapsed = 0.0
    while calls < 3 or elapsed < budget_s:
        fn(sets[i % len(sets)])
        i += 1
        calls += 1
        elapsed = clock() - t0
    return calls / elapsed, i


def worker(
    engine: str, rules: int, sets: int, repeats: int, budget_s: float, verify_s: float = 1e9
) -> dict[str, Any]:
    """Build one engine on the workload, verify it on every answer set, time it.

    An engine that cannot evaluate every set within ``verify_s`` seconds is reported as
    ``partial``, with the rate of the sets it did (each checked), instead of being timed."""
    import gc

    from benchmarks.peer_engines import ENGINES
    from benchmarks.peer_workload import Outcome, PythonEvaluator, answer_sets, digest, generate

    w = generate(rules)
    pool = answer_sets(w, sets)
    baseline = PythonEvaluator(w)
    expected = [baseline(a) for a in pool]
    out: dict[str, Any] = {"engine": engine, "rules": rules, "sets": len(pool)}
    t0 = time.perf_counter()
    try:
        run = ENGINES[engine][0](w)
    except ImportError as exc:
        return out | {"status": "not installed", "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - an engine that cannot take the workload is a finding
        return out | {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    out["build_s"] = time.perf_counter() - t0
    out["info"] = getattr(run, "info", {})
    got: list[Outcome] = []
    t1 = time.perf_counter()
    try:
        for a in pool:
            got.append(run(a))
            if time.perf_counter() - t1 > verify_s and len(got) < len(pool):
                break
    except Exception as exc:  # noqa: BLE001
        return out | {"status": "failed", "reason": f"{type(exc).__name__}: {exc}"[:300]}
    verify = time.perf_counter() - t1
    wrong = [n for n, (g, e) in enumerate(zip(got, expected)) if g != e]
    out["digest"] = digest(got)
    out["expected_digest"] = digest(expected[: len(got)])
    if not wrong and len(got) < len(pool):  # too slow to verify every set in the time bound
        base, _ = _rate(baseline, pool, budget_s, 0)
        rate = len(got) / verify
        return out | {
            "status": "partial",
            "verified": len(got),
            "per_s": [rate],
            "baseline_per_s": [base],
            "ratio": [base / rate],
            "reason": (
                f"{verify / len(got):.1f} s per evaluation: all {len(pool)} sets would pass "
                f"the {verify_s:g} s bound, so the rate is that of the sets checked (one run)"
            ),
        }
    if wrong:
        n = wrong[0]
        return out | {
            "status": "wrong",
            "reason": (
                f"{len(wrong)} of {len(pool)} answer sets differ from the Python evaluator "
                f"(first: set {n}, {len(set(got[n][0]) ^ set(expected[n][0]))} requirements "
                f"differ, level {got[n][1]} instead of {expected[n][1]})"
            ),
        }
    rates: list[float] = []
    baseline_rates: list[float] = []
    i = j = 0
    for _ in range(repeats):  # interleaved: each repeat times the engine, then the baseline
        gc.collect()
        rate, i = _rate(run, pool, budget_s, i)
        rates.append(rate)
        gc.collect()
        base, j = _rate(baseline, pool, budget_s, j)
        baseline_rates.append(base)
    levels = [lv for _, lv in expected]
    return out | {
        "status": "ok",
        "per_s": rates,
        "baseline_per_s": baseline_rates,
        "ratio": [b / r for r, b in zip(rates, baseline_rates)],
        "levels": {str(lv): levels.count(lv) for lv in sorted(set(levels))},
        "met_mean": sum(len(m) for m, _ in expected) / len(expected),
    }


# ---------------------------------------------------------------------- the runner


def _spawn(engine: str, rules: int, s: dict[str, Any]) -> dict[str, Any]:
    """Run one worker in a fresh interpreter and read its result."""
    with tempfile.TemporaryDirectory(prefix="dvrules-peer-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.peer", "--worker", engine]
        cmd += ["--rules", str(rules), "--sets", str(s["sets"]), "--repeats", str(s["repeats"])]
        cmd += ["--budget", str(s["budget"]), "--verify", str(s["verify"])]
        cmd += ["--result", str(result)]
        base = {"engine": engine, "rules": rules, "sets": s["sets"]}
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=s["timeout"],
                env=os.environ | {"PYTHONHASHSEED": "0"},
            )
        except subprocess.TimeoutExpired:
            return base | {"status": "failed", "reason": f"no result within {s['timeout']} s"}
        if result.exists():
            data: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
            return data
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return base | {
            "status": "failed",
            "reason": f"worker exited {proc.returncode}: " + " / ".join(tail)[:300],
        }


def measure(
    engines: Sequence[str], sizes: Sequence[int], s: dict[str, Any], progress: bool = True
) -> list[dict[str, Any]]:
    """Every engine at every size, each in its own process."""
    results = []
    for rules in sizes:
        for engine in engines:
            t0 = time.perf_counter()
            r = _spawn(engine, rules, s)
            r["wall_s"] = time.perf_counter() - t0
            if progress:
                print(
                    f"[peer] {rules} rules, {engine}: {r['status']} ({r['wall_s']:.1f} s)",
                    file=sys.stderr,
                    flush=True,
                )
            results.append(r)
    return results


def problems(results: Sequence[dict[str, Any]]) -> list[str]:
    """Every disagreement: a worker's own check, or digests differing between workers."""
    found = [
        f"{r['engine']} at {r['rules']} rules: {r['reason']}"
        for r in results
        if r["status"] == "wrong"
    ]
    by_size: dict[int, set[str]] = {}
    for r in results:
        if r["status"] == "ok":  # every set evaluated
            by_size.setdefault(r["rules"], set()).update((r["expected_digest"], r["digest"]))
    for rules, digests in by_size.items():
        if len(digests) > 1:
            found.append(f"{rules} rules: engines' result digests differ ({sorted(digests)})")
    return found


# ---------------------------------------------------------------------- the report


def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    """Median and interquartile range (lower, upper quartile) of the repeats."""
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q2, q1, q3


def _num(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _fig(values: Sequence[float], suffix: str = "") -> str:
    med, lo, hi = quartiles(values)
    return f"{_num(med)}{suffix} ({_num(lo)}–{_num(hi)})"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


COLUMNS = [
    "engine",
    "rules",
    "evaluations/s",
    "× slower than Python",
    "Python evaluator /s (same process)",
    "build s",
    "result",
]
TIMED = ("ok", "partial")


def _label(engine: str) -> str:
    from benchmarks.peer_engines import ENGINES

    return ENGINES[engine][2] if engine in ENGINES else engine


def _verdict(r: dict[str, Any]) -> str:
    extra = "".join(f"; {k.replace('_', ' ')} {v}" for k, v in r.get("info", {}).items())
    if r["status"] == "ok":
        return f"identical on {r['sets']} sets{extra}"
    if r["status"] == "partial":
        return f"identical on the {r['verified']} of {r['sets']} sets run; {r['reason']}"
    status = "**WRONG RESULTS**" if r["status"] == "wrong" else r["status"]
    return f"{status}: {r.get('reason', '')}"


def rows(results: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The detailed table: one row per engine and size."""
    out = []
    for r in results:
        if r["status"] in TIMED:
            figures = [_fig(r["per_s"]), _fig(r["ratio"], "×"), _fig(r["baseline_per_s"])]
        else:
            figures = ["—", "—", "—"]
        build = f"{r['build_s']:.2f}" if "build_s" in r else "—"
        out.append([_label(r["engine"]), str(r["rules"]), *figures, build, _verdict(r)])
    return out


def summary(results: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown: each engine's rate and ratio at each size, then how dvrules compares with each
    peer (the ratio of their ratios to the Python evaluator, each measured in its own process)."""
    sizes = sorted({r["rules"] for r in results})
    engines = list(dict.fromkeys(r["engine"] for r in results))
    cell = {(r["engine"], r["rules"]): r for r in results}
    head = "| engine | " + " | ".join(f"{n} rules: /s, × slower than Python" for n in sizes)
    lines = [head + " |", "|---|" + "---|" * len(sizes)]
    for e in engines:
        parts = []
        for n in sizes:
            r = cell.get((e, n))
            if r is None:
                parts.append("")
            elif r["status"] in TIMED:
                mark = " (partly verified)" if r["status"] == "partial" else ""
                med_rate = quartiles(r["per_s"])[0]
                med_ratio = quartiles(r["ratio"])[0]
                parts.append(f"{_num(med_rate)}, {_num(med_ratio)}×{mark}")
            else:
                parts.append("wrong" if r["status"] == "wrong" else r["status"])
        lines.append(f"| {_label(e)} | " + " | ".join(parts) + " |")
    for dv in ("dvrules-evaluate", "dvrules-assess"):
        mine = {n: cell.get((dv, n)) for n in sizes}
        if not any(m and m["status"] in TIMED for m in mine.values()):
            continue
        lines += [
            "",
            f"**{_label(dv)} against each peer** (peer's × over dvrules' ×: above 1, dvrules "
            "is that many times faster; below 1, slower):",
            "",
            "| peer | " + " | ".join(f"{n} rules" for n in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        for e in engines:
            if e.startswith("dvrules") or e == "python":
                continue
            parts = []
            for n in sizes:
                p, m = cell.get((e, n)), mine[n]
                if p and m and p["status"] in TIMED and m["status"] in TIMED:
                    parts.append(f"{quartiles(p['ratio'])[0] / quartiles(m['ratio'])[0]:.2f}")
                else:
                    parts.append("—")
            lines.append(f"| {_label(e)} | " + " | ".join(parts) + " |")
    return lines


def notes(results: Sequence[dict[str, Any]], sets: int, repeats: int, budget: float) -> list[str]:
    ok = [r for r in results if r["status"] == "ok" and r["engine"] == "python"]
    spread = "; ".join(
        f"{r['rules']} rules: level attained {r['levels']}, {r['met_mean']:.0f} requirements "
        "met on average"
        for r in ok
    )
    versions = ", ".join(
        f"{d} {_version(d)}"
        for d in ("durable_rules", "clipspy", "business-rules", "rule-engine", "experta")
    )
    return [
        "Workload (`benchmarks/peer_workload.py`, seeded): one flow of 3 levels of requirements "
        "in dvrules' knowledge schema (yes/no tests, integer thresholds, counts and "
        "memberships of multiple choices, `all`/`any` of two or three tests; from level 2 one "
        "requirement in five joins a requirement of the level below), one question per four "
        "requirements. A level is attained when the level below is and all its requirements "
        "are met. *rules* counts requirements, one rule each in every peer (one per "
        "alternative in CLIPS); dvrules compiles each into two or more durable_rules rules "
        f"(holds / fails). Answer sets: {sets} complete sets, each a model answer set (which "
        "meets everything) with the questions of the levels above a target level changed at "
        f"some rate ({spread}).",
        f"Each engine runs in a fresh process: build, then every answer set evaluated and "
        "checked against the Python evaluator (met requirements and level attained), then "
        f"{repeats} repeats each timing the engine and the Python evaluator for about "
        f"{budget:g} s, cycling through the sets. Figures are medians with the interquartile "
        "range in brackets; *× slower* is the Python evaluator's rate over the engine's in "
        "the same repeats. *build s* is building the engine (for dvrules: writing, loading "
        "and compiling the knowledge).",
        "Engines: *dvrules assess* is `DVRules.assess(flow, answers)` (answers validated, "
        "statuses, levels, gaps, sources); *dvrules evaluate* is `DVRules.evaluate` (the "
        "engine's decisions), both with the memo of recent evaluations off. durable_rules "
        "plainly: `durable.lang` rulesets, one fact per answer, a join per `all`, `when_any` "
        "per `any`, a catch-all rule (a fact no rule matches is refused); one session reused "
        "(assert, read, retract everything), because a ruleset holds at most 1,024 live "
        "sessions, `delete_state` can free twice with facts waiting in joins, and a ruleset "
        "name can be registered once per process. Its global host is created without its "
        "background timer threads: with them, at 1,000 and more rules 11 to 27 of 30 answer "
        "sets came out wrong (the threads dispatch pending actions while the caller "
        "asserts). CLIPS (clipspy) *strings*: `build` and one `(assert ...)` `eval` per "
        "evaluation, `find-all-facts` to read; *objects*: deftemplates, "
        "`Template.assert_fact`, `Template.facts()`. business-rules: JSON rules over "
        "generated variable and action classes. rule-engine: one compiled `Rule` per "
        "requirement. experta: generated `KnowledgeEngine` with one `@Rule` each; it pins "
        "frozendict 1.2, which needs `collections.Mapping` (removed in Python 3.10), so the "
        "runner sets that alias before importing it. Level attained is read from the met "
        "requirements by the same function for every peer; dvrules assess computes its own.",
        f"Versions: {versions}. Peers install with `pip install -e '.[bench]'`; a peer "
        "that is not installed is listed as such.",
    ]


def render(
    results: Sequence[dict[str, Any]],
    quick: bool,
    sets: int,
    repeats: int,
    budget: float,
    seconds: float,
) -> str:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Peer benchmark: dvrules beside other rule engines", ""]
    if quick:
        lines += ["**Smoke run (`--quick`): one small size, few repeats; not meaningful.**", ""]
    lines += [
        f"Run {when} on Python {platform.python_version()}, {platform.platform()}, "
        f"{os.cpu_count()} CPUs, dvrules {_version('dvrules')}; {seconds:.0f} s in all. "
        "Reproduce: `python -m benchmarks.peer` (or `make bench`).",
        "",
    ]
    found = problems(results)
    if found:
        lines += ["**Results differ:**", ""] + [f"- {p}" for p in found] + [""]
    lines += summary(results) + ["", "## Every run", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in rows(results)]
    lines.append("")
    for note in notes(results, sets, repeats, budget):
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def settings(quick: bool) -> dict[str, Any]:
    """Sizes, answer sets, repeats and seconds per timed run of a quick or a full run."""
    if quick:
        return {
            "sizes": QUICK_SIZES,
            "sets": 10,
            "repeats": 3,
            "budget": 0.05,
            "verify": 20,
            "timeout": 120,
        }
    return {
        "sizes": FULL_SIZES,
        "sets": 40,
        "repeats": 5,
        "budget": 0.5,
        "verify": 60,
        "timeout": 240,
    }


def run_all(
    quick: bool,
    out: Path,
    engines: Sequence[str] | None = None,
    sizes: Sequence[int] | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Measure, write ``peer.md`` and ``peer.json`` into ``out``; return results and problems."""
    from benchmarks.peer_engines import ENGINES

    s = settings(quick)
    t0 = time.perf_counter()
    results = measure(list(engines or ENGINES), list(sizes or s["sizes"]), s)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    text = render(results, quick, s["sets"], s["repeats"], s["budget"], seconds)
    (out / "peer.md").write_text(text, encoding="utf-8")
    (out / "peer.json").write_text(
        json.dumps({"quick": quick, "settings": s, "results": results}, indent=1) + "\n",
        encoding="utf-8",
    )
    return results, problems(results)


def run(quick: bool, out: Path) -> list[Any]:
    """The part ``benchmarks.run`` calls: writes peer.md beside results.md, returns a section
    for results.md; raises ``PeerMismatch`` (after writing) if any engine disagreed."""
    from benchmarks.common import Section

    results, found = run_all(quick, out)
    s = settings(quick)
    section = Section("peer", "Peer benchmark: dvrules beside other rule engines")
    section.columns = COLUMNS
    section.rows = rows(results)
    section.notes = ["\n".join(summary(results))]
    section.notes += notes(results, s["sets"], s["repeats"], s["budget"])
    section.data = {"results": results}
    for what, target, measured, met in targets(results):
        section.check(what, target, measured, met)
    if found:
        raise PeerMismatch("; ".join(found))
    return [section]


# The targets for DVRules.evaluate: ahead of these peers, and within 1.5x of those.
AHEAD_OF = ("durable-plain", "clips-api", "rule-engine", "experta")
WITHIN_1_5X_OF = ("clips-eval", "business-rules")


def targets(results: Sequence[dict[str, Any]]) -> list[tuple[str, str, str, bool]]:
    """Budget lines: per size, ``DVRules.evaluate``'s time against each named peer's (their
    ratios to the Python evaluator, medians, measured in the same run)."""
    slower: dict[tuple[str, int], float] = {
        (r["engine"], r["rules"]): statistics.median(r["ratio"])
        for r in results
        if r.get("status") == "ok" and r.get("ratio")
    }
    lines = []
    for size in sorted({r["rules"] for r in results}):
        ours = slower.get(("dvrules-evaluate", size))
        if ours is None:
            lines.append((f"peer, {size} rules: DVRules.evaluate runs", "runs", "failed", False))
            continue
        for peer in AHEAD_OF + WITHIN_1_5X_OF:
            theirs = slower.get((peer, size))
            if theirs is None:
                continue  # the peer is not installed, or did not finish
            limit = 1.0 if peer in AHEAD_OF else 1.5
            what = f"peer, {size} rules: DVRules.evaluate's time over {peer}'s"
            target = "< 1 (ahead)" if limit == 1.0 else "<= 1.5"
            met = ours / theirs < limit if limit == 1.0 else ours / theirs <= limit
            lines.append((what, target, f"{ours / theirs:.2f}", met))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="one small size, few repeats")
    parser.add_argument("--engines", help="comma-separated engines (default: all)")
    parser.add_argument("--sizes", help="comma-separated rule counts (default 100,500,2000)")
    parser.add_argument("--out", type=Path, default=None, help="default benchmarks/results")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rules", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sets", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--budget", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--verify", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        data = worker(args.worker, args.rules, args.sets, args.repeats, args.budget, args.verify)
        args.result.write_text(json.dumps(data), encoding="utf-8")
        return 0
    from benchmarks.peer_engines import ENGINES

    engines = args.engines.split(",") if args.engines else None
    unknown = set(engines or ()) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engines: {', '.join(sorted(unknown))} (of {', '.join(ENGINES)})")
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else None
    out = args.out or (HERE / "results" / ("quick" if args.quick else ""))
    _, found = run_all(args.quick, out, engines, sizes)
    print(f"[peer] wrote {out / 'peer.md'}", file=sys.stderr)
    for p in found:
        print(f"[peer] RESULTS DIFFER: {p}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
