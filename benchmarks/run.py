"""Run every benchmark and write ``results.md`` and ``results.json``.

    python -m benchmarks.run            # full run (several minutes), into benchmarks/results/
    python -m benchmarks.run --quick    # smoke run (seconds), into benchmarks/results/quick/
    python -m benchmarks.run --only engine,turn --out /tmp/bench

With ``--only``, sections already in the output's results.json that were not re-run are kept,
so one part can be measured again without repeating the others (the report says which parts
were run when).

Each figure is the median over repeated runs with its spread (lowest–highest run) in brackets;
every comparison is a ratio of figures measured side by side in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.common import Section

HERE = Path(__file__).resolve().parent
PARTS = ("engine", "turn", "bots", "coldstart", "memory", "profile", "scale", "peer")


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    """The checked-out commit, read from .git without running git."""
    git = HERE.parent / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        pass
    return "unknown"


def environment(rules: Any) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "durable_rules": _version("durable_rules"),
        "tinydb": _version("tinydb"),
        "dvrules": _version("dvrules"),
        "commit": _commit(),
        "knowledge_version": rules.kb.version,
        "flows": list(rules.kb.flows),
    }


def _run_part(name: str, fn: Callable[[], list[Section]]) -> list[Section]:
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        sections = fn()
    except Exception as exc:  # noqa: BLE001 - one broken part must not lose the others
        section = Section(name, name, status="error", reason=f"{type(exc).__name__}: {exc}")
        section.notes.append("```\n" + traceback.format_exc(limit=6).strip() + "\n```")
        sections = [section]
    elapsed = time.perf_counter() - t0
    for s in sections:
        s.seconds = elapsed / len(sections)
    print(f"[bench] {name} done in {elapsed:.1f}s", file=sys.stderr, flush=True)
    return sections


def render_markdown(env: dict[str, Any], sections: list[Section], quick: bool) -> str:
    lines = ["# dvrules benchmark results", ""]
    if quick:
        lines += [
            "**Smoke run (`--quick`): few repeats and small sizes; the figures are not "
            "meaningful, only the shape of the report.**",
            "",
        ]
    lines += [
        f"Run {env['date']} on Python {env['python']}, {env['platform']}, {env['cpus']} CPUs; "
        f"durable_rules {env['durable_rules']}, tinydb {env['tinydb']}, commit {env['commit']}, "
        f"knowledge {env['knowledge_version']} (flows: {', '.join(env['flows'])}).",
        "",
        "Each figure is the median over repeated runs, with the lowest and highest run in "
        "brackets. Ratios compare figures measured side by side in the same run.",
        "",
    ]
    runs = env.get("parts_run") or {}
    if len(set(runs.values())) > 1:
        lines += [
            "Parts measured at different times: "
            + "; ".join(f"{k} {v}" for k, v in runs.items())
            + ".",
            "",
        ]
    budget = [b | {"section": s.title} for s in sections for b in s.budget]
    if budget:
        lines += ["## Budget", "", "| target | budget | measured | met |", "|---|---|---|---|"]
        for b in budget:
            lines.append(
                f"| {b['what']} | {b['target']} | {b['measured']} | "
                f"{'yes' if b['met'] else '**no**'} |"
            )
        lines.append("")
    for s in sections:
        lines += [f"## {s.title}", ""]
        if s.status != "ok":
            lines += [f"**{s.status}**: {s.reason}", ""]
        if s.rows:
            lines.append("| " + " | ".join(s.columns) + " |")
            lines.append("|" + "---|" * len(s.columns))
            for row in s.rows:
                lines.append("| " + " | ".join(row) + " |")
            lines.append("")
        for note in s.notes:
            lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: a few seconds")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where to write (default benchmarks/results, or .../quick)",
    )
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run (of {', '.join(PARTS)})",
    )
    args = parser.parse_args(argv)
    wanted = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = set(wanted) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    out = args.out or (HERE / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)

    from dvrules import DVRules

    t0 = time.perf_counter()
    rules = DVRules()
    env = environment(rules)
    quick = args.quick
    sections: list[Section] = []
    for part in wanted:
        if part == "engine":
            from benchmarks import engine_bench

            sections += _run_part(part, lambda: engine_bench.run(rules, quick))
        elif part == "turn":
            from benchmarks import turn_bench

            sections += _run_part(part, lambda: turn_bench.run(rules, quick))
        elif part == "bots":
            from benchmarks import bots_bench

            sections += _run_part(part, lambda: bots_bench.run(rules, quick))
        elif part == "coldstart":
            from benchmarks import coldstart

            sections += _run_part(part, lambda: coldstart.run(rules, quick))
        elif part == "memory":
            from benchmarks import memory

            sections += _run_part(part, lambda: memory.run(rules, quick))
        elif part == "profile":
            from benchmarks import profile

            sections += _run_part(part, lambda: profile.run(rules, quick, out, sections))
        elif part == "scale":
            from benchmarks import scale

            sections += _run_part(part, lambda: scale.run(quick, out))
        elif part == "peer":
            from benchmarks import peer

            sections += _run_part(part, lambda: peer.run(quick, out))
    env["seconds"] = round(time.perf_counter() - t0, 1)
    env["parts_run"] = {s.key: env["date"] for s in sections}
    previous = out / "results.json"
    if set(wanted) != set(PARTS) and previous.exists():
        try:
            old = json.loads(previous.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old and old.get("quick") == quick:
            fresh = {s.key: s for s in sections}
            merged = [fresh.pop(d["key"], None) or Section.from_dict(d) for d in old["sections"]]
            sections = merged + list(fresh.values())
            runs = dict(
                old["environment"].get("parts_run")
                or {d["key"]: old["environment"]["date"] for d in old["sections"]}
            )
            runs.update(env["parts_run"])
            env = {**old["environment"], **env, "parts_run": runs}  # this run's commit
    (out / "results.json").write_text(
        json.dumps(
            {"environment": env, "quick": quick, "sections": [s.as_dict() for s in sections]},
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    (out / "results.md").write_text(render_markdown(env, sections, quick), encoding="utf-8")
    print(
        f"[bench] wrote {out / 'results.md'} and results.json in {time.perf_counter() - t0:.1f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
