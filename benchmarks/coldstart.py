"""Part 4: cold start, a new process from its start to the first question of a flow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Figure, Section
from dvrules import DVRules

ROOT = Path(__file__).resolve().parent.parent

# Runs in the child: import, load and validate all knowledge, compile every flow's rules, ask
# the first question; reports its own phases (seconds since the interpreter started).
CHILD = r"""
import sys, time
t0 = time.perf_counter()
from dvrules.knowledge import load_knowledge
from dvrules.api import DVRules
t1 = time.perf_counter()
kb = load_knowledge()
t2 = time.perf_counter()
rules = DVRules(kb)
t3 = time.perf_counter()
q = rules.next_question(sys.argv[1], {})
t4 = time.perf_counter()
import json
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "compile": t3 - t2, "first": t4 - t3,
                  "question": q.id if q else None}), flush=True)
"""


def _spawn(args: list[str]) -> tuple[float, str]:
    """Wall-clock seconds from starting the process to reading its first line, and the line."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    line = proc.stdout.readline() if proc.stdout else ""
    elapsed = time.perf_counter() - t0
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"cold start child failed: {err.strip()[-500:]}")
    return elapsed, line


def run(rules: DVRules, quick: bool) -> list[Section]:
    runs = 1 if quick else 9
    flow = "referral" if "referral" in rules.kb.flows else next(iter(rules.kb.flows))
    section = Section("coldstart", "4. Cold start: new process to first question")
    section.columns = ["phase", "seconds", "share"]
    totals, bare, phases = [], [], []
    _spawn([sys.executable, "-c", CHILD, flow])  # writes the warm-start cache if missing
    for _ in range(runs):  # alternate, so both see the same machine state
        bare.append(_spawn([sys.executable, "-c", "print('ready', flush=True)"])[0])
        elapsed, line = _spawn([sys.executable, "-c", CHILD, flow])
        totals.append(elapsed)
        phases.append(json.loads(line))
    total, interp = Figure.of(totals), Figure.of(bare)
    rows = [("Python interpreter start (`python -c` printing a line)", interp)]
    names = {
        "import": "import dvrules (pydantic, durable_rules, yaml, ...)",
        "load": "load all knowledge (validated copy from the warm-start cache)",
        "compile": "compile every flow's rules",
        "first": f"first question of {flow}",
    }
    for key, label in names.items():
        rows.append((label, Figure.of(p[key] for p in phases)))
    for label, fig in rows:
        section.rows.append([label, fig.text(3), f"{fig.median / total.median:.0%}"])
    section.rows.append(
        ["**total, process start to first question**", f"**{total.text(3)}**", "100%"]
    )
    ratio = Figure.of(t / b for t, b in zip(totals, bare))
    section.data = {
        "total_s": total.as_dict(),
        "interpreter_s": interp.as_dict(),
        "total_over_interpreter": ratio.as_dict(),
        "flow": flow,
        "phases": {k: Figure.of(p[k] for p in phases).as_dict() for k in names},
        "first_question": phases[0]["question"],
    }
    section.check("cold start to first question", "< 1 s", f"{total.text(3)} s", total.median < 1.0)
    section.check(
        "warm start to first question", "< 0.3 s", f"{total.text(3)} s", total.median < 0.3
    )
    section.notes.append(
        f"Median of {runs} fresh processes (`{Path(sys.executable).name} -c`, bytecode caches, "
        f"the page cache and the warm-start cache of loaded knowledge and compiled rules "
        f"(`dvrules.kb_cache`) warm, as on a dyno after its first boot), each alternated with a "
        f"bare interpreter start measured the same way; the whole start is "
        f"{ratio.text(1)}× a bare interpreter's. Phases are timed inside the child."
    )
    return [section]
