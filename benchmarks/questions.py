"""Questions asked per person: the referral interview replayed for the people of issue 8.

    python -m benchmarks.questions                          # this tree only
    python -m benchmarks.questions --base /tmp/before       # and a "before" tree beside it
        [--tree DIR] [--scenarios tests/scenarios/referral.yaml] [--out FILE]

The people are the scenarios marked ``person: <short-name>`` in the scenario file; each one's
``answers`` are what that person would say to every question they could be asked. The planner
(``DVRules.next_question``) is asked for questions until it has none left; each is answered from
the person's answers, an unlisted one with "don't know". A tree is measured in its own child
process importing ``dvrules`` and its ``knowledge/`` from that tree (public API only), so the same
script measures older code. Answer ids an older tree does not know are mapped (``fgm`` from
``fgm_at_risk``/``fgm_known_under_18``) or left out, and numbers are clamped to its range; the
report lists every such adjustment. Counts, not times: the machine's load does not change them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
FLOW = "referral"

# The child: public API only, so it runs unchanged against older versions of dvrules.
CHILD = r"""
import json, sys
from dvrules import DVRules

FLOW = "referral"

def adapt(kb, answers):
    # The person's answers as this knowledge asks them, and what had to change.
    asked = set(kb.flow(FLOW).questions)
    out, notes = {}, []
    if "fgm" in asked and "fgm" not in answers:
        parts = [answers[k] for k in ("fgm_at_risk", "fgm_known_under_18") if k in answers]
        if parts:
            out["fgm"] = True if True in parts else (False if all(p is False for p in parts) else None)
            notes.append("fgm from fgm_at_risk/fgm_known_under_18")
    for qid, value in answers.items():
        if qid not in asked:
            if qid not in ("fgm_at_risk", "fgm_known_under_18") or "fgm" not in asked:
                notes.append(f"{qid} not asked by this knowledge")
            continue
        q = kb.questions[qid]
        if value is not None and q.type in ("number", "integer"):
            clamped = min(max(value, q.min if q.min is not None else value),
                          q.max if q.max is not None else value)
            if clamped != value:
                notes.append(f"{qid} {value} -> {clamped}")
            value = clamped
        if value is not None and q.type == "choice" and value not in [c.id for c in kb.choices(q)]:
            notes.append(f"{qid} {value} not a choice here")
            continue
        out[qid] = value
    return out, notes

people = json.load(open(sys.argv[1]))
rules_by_area, out = {}, []
for p in people:
    area = p.get("area")
    if area not in rules_by_area:
        rules_by_area[area] = DVRules(area=area)
    rules = rules_by_area[area]
    answers, notes = adapt(rules.kb, p["answers"])
    given, asked, first, urgent = {}, [], None, []
    while True:
        partial = rules.assess(FLOW, given, checked=True)
        if first is None and partial.referrals:
            first = len(asked)
        urgent.append(sorted(r.id for r in partial.referrals if r.urgency != "routine"))
        q = rules.next_question(FLOW, given)
        if q is None:
            break
        asked.append(q.id)
        given[q.id] = answers.get(q.id)
        if len(asked) > 500:
            raise SystemExit(p["name"] + ": the interview does not end")
    result = rules.assess(FLOW, given, checked=True)
    # after how many answers the same-day referrals were what they are at the end, for good
    settled = next(i for i in range(len(urgent)) if all(u == urgent[-1] for u in urgent[i:]))
    out.append({"person": p["person"], "asked": len(asked), "first_referral": first,
                "same_day_settled": settled, "same_day": len(urgent[-1]),
                "referrals": len(result.referrals), "questions": asked, "notes": notes})
print(json.dumps(out))
"""


def people(scenarios: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(scenarios.read_text(encoding="utf-8"))
    found = [
        {
            "person": c["person"],
            "name": c["name"],
            "answers": c.get("answers") or {},
            "area": c.get("area"),
        }
        for c in data.get("scenarios", [])
        if c.get("person")
    ]
    if not found:
        raise SystemExit(f"{scenarios}: no scenario is marked with 'person:'")
    return found


def measure(tree: Path, cast: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The replayed interviews, run by ``tree``'s own dvrules and knowledge."""
    env = {**os.environ, "PYTHONPATH": str(tree), "DVRULES_KNOWLEDGE": str(tree / "knowledge")}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(cast, f)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, f.name],
            env=env,
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        os.unlink(f.name)
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _commit(tree: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()[:90] or "(not a git tree)"


def _stats(rows: list[dict[str, Any]], key: str) -> tuple[float, int]:
    values = [r[key] for r in rows if r[key] is not None]
    return statistics.median(values), max(values)


def report(
    runs: list[tuple[str, Path, list[dict[str, Any]]]], scenarios: Path, command: str
) -> str:
    names = [label for label, _, _ in runs]
    lines = [
        "# Questions asked per person (referral interview)",
        "",
        f"People: the scenarios marked `person:` in `{scenarios.relative_to(ROOT) if scenarios.is_relative_to(ROOT) else scenarios}`. "
        "Each interview is replayed by the planner (`DVRules.next_question`) until it has "
        "no question left, answering from the person's answers (unlisted: don't know).",
        "*asked*: questions asked; *first referral*: questions answered before the result "
        "(which works on partial answers) first lists a referral; *same-day settled*: "
        "questions answered after which the referrals due now or today are those of the "
        "final result (the worker can act on them from then on; 0 also when there is none).",
        "",
        "Reproduce:",
        "",
        "```sh",
        command,
        "```",
        "",
    ]
    for label, tree, _ in runs:
        lines.append(f"- {label}: `{tree}` at {_commit(tree)}")
    lines.append("")
    columns = (
        ("asked", "asked"),
        ("first_referral", "first referral"),
        ("same_day_settled", "same-day settled"),
    )
    head = "| person | " + " | ".join(f"{title} ({n})" for _, title in columns for n in names)
    lines += [head + " |", "|" + "---|" * (1 + len(columns) * len(names))]
    by_person = [{r["person"]: r for r in rows} for _, _, rows in runs]
    for person in by_person[-1]:
        cells = [
            str(b[person].get(key, "-")) if person in b else "-"
            for key, _ in columns
            for b in by_person
        ]
        lines.append(f"| {person} | " + " | ".join(cells) + " |")
    for what, pick in (("median", 0), ("max", 1)):
        cells = [f"{_stats(rows, key)[pick]:g}" for key, _ in columns for _, _, rows in runs]
        lines.append(f"| **{what}** | " + " | ".join(cells) + " |")
    if len(runs) > 1:
        before, after = (_stats(runs[0][2], "asked"), _stats(runs[-1][2], "asked"))
        lines += [
            "",
            f"Median {before[0]:g} -> {after[0]:g} questions, maximum {before[1]} -> "
            f"{after[1]} ({names[0]} -> {names[-1]}).",
        ]
    notes = [(label, r["person"], n) for label, _, rows in runs for r in rows for n in r["notes"]]
    if notes:
        lines += ["", "Answers adjusted to what a tree's knowledge asks:", ""]
        lines += [f"- {label}, {person}: {note}" for label, person, note in notes]
    lines += ["", "Questions asked, in order:", ""]
    for label, _, rows in runs:
        for r in rows:
            lines.append(f"- {label}, {r['person']} ({r['asked']}): {', '.join(r['questions'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="a 'before' tree measured beside this one")
    ap.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="the 'after' tree (default: the one holding this script)",
    )
    ap.add_argument(
        "--scenarios",
        type=Path,
        help="people (default: the after tree's tests/scenarios/referral.yaml)",
    )
    ap.add_argument("--out", type=Path, help="write the Markdown report here (else print it)")
    args = ap.parse_args(argv)
    tree = args.tree.resolve()
    scenarios = (args.scenarios or tree / "tests" / "scenarios" / "referral.yaml").resolve()
    for path in [tree, scenarios] + ([args.base] if args.base else []):
        if not path.exists():
            raise SystemExit(f"{path}: not found")
    cast = people(scenarios)
    runs = []
    if args.base is not None:
        runs.append(("before", args.base.resolve(), measure(args.base.resolve(), cast)))
    runs.append(("after" if args.base is not None else "this tree", tree, measure(tree, cast)))
    command = (
        "python -m benchmarks.questions"
        + (f" --base {args.base}" if args.base else "")
        + (f" --tree {args.tree}" if args.tree != ROOT else "")
        + (f" --scenarios {args.scenarios}" if args.scenarios else "")
        + (f" --out {args.out}" if args.out else "")
    )
    text = report(runs, scenarios, command)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
