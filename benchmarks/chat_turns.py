"""Counts (not times) for whole conversations through the chat core (dvrules.chat).

Drives a CDRP self-assessment and a referral conversation to their results the way a person
on a phone does (buttons, toggles then Done, typed numbers), executing the core's actions as an
adapter would, and reports: answers given, new messages vs edits in place, store loads and
saves per turn, and the length of the first result message.

Run: ``.venv/bin/python -m benchmarks.chat_turns`` (a few seconds; writes
benchmarks/results/chat_turns.md).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from pathlib import Path
from typing import Any

from dvrules import DVRules
from dvrules.chat import Conversation, Edit, Message, Press, Send, Text, plain_text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "bots"))
from bot_drivers import CDRP_SCRIPT, CountingStore, referral_script, scripted  # noqa: E402


def run(rules: DVRules, flow: str, script: dict[str, Any]) -> dict[str, Any]:
    store = CountingStore(tempfile.mkdtemp())
    engine_runs = [0]
    evaluate = rules.engine.evaluate

    def counted(*args: Any, **kwargs: Any) -> Any:
        engine_runs[0] += 1
        return evaluate(*args, **kwargs)

    rules.engine.evaluate = counted  # type: ignore[method-assign]
    runs_per_turn: list[int] = []
    conv = Conversation(rules, store)
    ids = itertools.count(1)
    counts = {"sends": 0, "edits": 0}
    per_turn: list[tuple[int, int]] = []
    shown: list[Message] = []

    def turn(event: Text | Press) -> list[Message]:
        store.loads = store.saves = 0
        engine_runs[0] = 0
        with conv.turn("bench", event) as reply:
            for act in reply.actions:
                if isinstance(act, Send):
                    counts["sends"] += 1
                    reply.sent(act, next(ids))
                elif isinstance(act, Edit):
                    counts["edits"] += 1
        per_turn.append((store.loads, store.saves))
        runs_per_turn.append(engine_runs[0])
        shown.extend(reply.messages)
        return reply.messages

    def press(label: str) -> list[Message]:
        card = [m for m in shown if m.kind == "card" and m.buttons][-1]
        payload = next(b.payload for row in card.buttons for b in row if b.label.startswith(label))
        return turn(Press(payload))

    turn(Text("start"))
    turn(Press(f"f|{flow}"))
    answers: dict[str, Any] = {}
    while (q := rules.next_question(flow, answers)) is not None:
        value = scripted(rules, flow, q.id, script)
        if value is None:
            press("Don't know")
        elif q.type == "yes_no":
            press("Yes" if value else "No")
        elif q.type == "choice":
            press(f"{[c.id for c in q.choices].index(value) + 1}. ")
        elif q.type == "multi_choice":
            for cid in value:
                press(f"[ ] {[c.id for c in q.choices].index(cid) + 1}. ")
            press("Done")
        else:
            turn(Text(f"{value:g}" if isinstance(value, float) else str(value)))
        answers[q.id] = value
    del rules.engine.evaluate
    first = next(m for m in shown if m.kind == "result")
    return {
        "flow": flow,
        "answers": len(answers),
        "turns": len(per_turn),
        "new messages": counts["sends"],
        "edits": counts["edits"],
        "loads per turn (max)": max(loads for loads, _ in per_turn),
        "saves per turn (max)": max(s for _, s in per_turn),
        "engine runs per turn (max)": max(runs_per_turn),
        "first result message (characters)": len(plain_text(first.paragraphs)),
    }


def main() -> None:
    rules = DVRules()
    rows = [run(rules, "cdrp", CDRP_SCRIPT), run(rules, "referral", referral_script(rules))]
    keys = list(rows[0])
    lines = [
        "# Whole conversations through dvrules.chat (counts, not times)",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "benchmarks" / "results" / "chat_turns.md"
    out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
