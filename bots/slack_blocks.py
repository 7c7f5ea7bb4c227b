"""Composer messages as Slack Block Kit: the Slack formatter, and nothing else.

A message's first paragraph, if it is short and all bold, becomes a ``header`` block; italic
paragraphs (progress, hints, sources) become ``context`` blocks; the rest are ``section`` blocks
of mrkdwn, packed at paragraph boundaries; buttons become ``actions`` blocks. Every span is
escaped, so nothing a knowledge file or a person wrote can turn into a Slack link or mention.
"""

from __future__ import annotations

import json
from typing import Any

from dvrules.chat import Message, Paragraph, Span, pack

SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
HEADER_LIMIT = 150  # characters of a header block's plain text
BLOCKS_PER_MESSAGE = 50
CHARACTERS_PER_MESSAGE = 12000  # well under Slack's message size limits, and readable
BUTTONS_PER_ACTIONS_BLOCK = 25
BUTTON_TEXT_LIMIT = 75
BLOCKS_PER_VIEW = 100
OPTIONS_PER_FORM = 100  # a multi-select list's limit
FORM_ACTION, FORM_ID = "dv-form", "dv-choices"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style(text: str, mark: str) -> str:
    """Wrap each line's words in ``mark``, keeping spaces outside (as mrkdwn needs)."""
    out = []
    for line in text.split("\n"):
        core = line.strip()
        lead, trail = line[: len(line) - len(line.lstrip())], line[len(line.rstrip()) :]
        out.append(f"{lead}{mark}{core}{mark}{trail}" if core else line)
    return "\n".join(out)


def fmt(p: Paragraph) -> str:
    """A paragraph as Slack mrkdwn: every span escaped, then styled."""
    out = []
    for s in p:
        text = escape(s.text)
        if s.bold:
            text = _style(text, "*")
        if s.italic:
            text = _style(text, "_")
        out.append(text)
    return "".join(out)


def _text(kind: str, text: str) -> dict[str, Any]:
    return {"type": kind, "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(p: Paragraph) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "verbatim": True, "text": fmt(p).strip()[:SECTION_LIMIT]}],
    }


def _body(msg: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    run: list[Paragraph] = []

    def flush() -> None:
        out.extend(_text("section", piece) for piece in pack(run, SECTION_LIMIT, fmt))
        run.clear()

    for n, p in enumerate(msg.paragraphs):
        plain = "".join(s.text for s in p).strip()
        if not plain:
            continue
        if n == 0 and all(s.bold for s in p) and len(plain) <= HEADER_LIMIT and "\n" not in plain:
            out.append(
                {"type": "header", "text": {"type": "plain_text", "text": plain, "emoji": False}}
            )
        elif all(s.italic or not s.text.strip() for s in p):
            flush()
            out.append(_context(p))
        elif p[0].italic and p[0].text.endswith("\n"):  # a progress line over the question
            flush()
            out.append(_context((Span(p[0].text.strip(), italic=True),)))
            run.append(p[1:])
        else:
            run.append(p)
    flush()
    return out


def _actions(msg: Message) -> list[dict[str, Any]]:
    actions, n = [], 0
    for row in msg.buttons:
        for start in range(0, len(row), BUTTONS_PER_ACTIONS_BLOCK):
            elements = []
            for bt in row[start : start + BUTTONS_PER_ACTIONS_BLOCK]:
                elements.append(
                    {
                        "type": "button",
                        "action_id": f"dv-{n}",
                        "value": bt.payload,
                        "text": {
                            "type": "plain_text",
                            "emoji": False,
                            "text": bt.label[:BUTTON_TEXT_LIMIT],
                        },
                    }
                )
                n += 1
            actions.append({"type": "actions", "elements": elements})
    return actions


def _size(block: dict[str, Any]) -> int:
    if "text" in block:
        return len(block["text"]["text"])
    return sum(
        len(e.get("text", "")) for e in block.get("elements", []) if block["type"] == "context"
    )


def blocks(msg: Message) -> list[list[dict[str, Any]]]:
    """A message as Block Kit: usually one Slack message; more only if it is over Slack's
    limits (50 blocks), buttons always on the last."""
    messages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in _body(msg):
        length = _size(block)
        if messages[-1] and (
            len(messages[-1]) >= BLOCKS_PER_MESSAGE or size + length > CHARACTERS_PER_MESSAGE
        ):
            messages.append([])
            size = 0
        messages[-1].append(block)
        size += length
    actions = _actions(msg)
    if msg.meta.get("type") == "multi_choice":  # the same choices, ticked in a form
        actions.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": FORM_ACTION,
                        "value": form_value(msg.meta),
                        "text": {"type": "plain_text", "text": "Choose in a form"},
                    }
                ],
            }
        )
    if len(messages[-1]) + len(actions) > BLOCKS_PER_MESSAGE:
        messages.append([])
    messages[-1] += actions
    return [m for m in messages if m]


def without_buttons(blocks_: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [bl for bl in blocks_ if isinstance(bl, dict) and bl.get("type") != "actions"]


def home_view(home: Message, note: str | None = None) -> dict[str, Any]:
    """The App Home tab: the core's home page, and a note (what remains after forget)."""
    view = [block for part in blocks(home) for block in part]
    if note:
        view.insert(0, _text("section", f"*{escape(note)}*"))
    return {"type": "home", "blocks": view[:BLOCKS_PER_VIEW]}


def form_value(meta: dict[str, Any]) -> str:
    """The "Choose in a form" button's value: what the form needs, carried by the card itself
    (whichever process gets the press): the question, the card's serial and the option numbers
    ticked, all already shown on the card; never an answer's text."""
    return json.dumps(
        {"q": meta["question"], "s": meta["serial"], "t": meta["selected"]}, separators=(",", ":")
    )


def read_form_value(value: str) -> tuple[str, int, list[int]] | None:
    """``form_value`` read back: question id, serial, option numbers; None if it is not one
    (a card from an older version, or a forged value)."""
    try:
        form = json.loads(value)
        question, serial, ticked = form["q"], form["s"], form["t"]
    except (ValueError, TypeError, KeyError):
        return None
    if (
        not isinstance(question, str)
        or type(serial) is not int
        or not isinstance(ticked, list)
        or not all(type(n) is int and 0 <= n < OPTIONS_PER_FORM for n in ticked)
    ):
        return None
    return question, serial, sorted(set(ticked))


def choices_form(
    question: str, options: list[str], ticked: list[int], private: str
) -> dict[str, Any]:
    """A modal to tick a several-choice question's options at once: checkboxes for up to 10,
    a multi-select list beyond; what is already chosen comes ticked."""
    shown = [
        {"text": {"type": "plain_text", "text": label[:75]}, "value": str(n)}
        for n, label in enumerate(options[:OPTIONS_PER_FORM])
    ]
    element: dict[str, Any] = {
        "type": "checkboxes" if len(shown) <= 10 else "multi_static_select",
        "action_id": "choices",
        "options": shown,
    }
    chosen = [shown[n] for n in ticked if n < len(shown)]
    if chosen:
        element["initial_options"] = chosen
    return {
        "type": "modal",
        "callback_id": FORM_ID,
        "private_metadata": private,
        "title": {"type": "plain_text", "text": "Choose"},
        "submit": {"type": "plain_text", "text": "Done"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "choices",
                "optional": True,
                "label": {"type": "plain_text", "text": question[:2000]},
                "element": element,
            }
        ],
    }


def chosen(view: dict[str, Any]) -> list[int]:
    """The option numbers ticked in a submitted ``choices_form``."""
    picked = view["state"]["values"]["choices"]["choices"].get("selected_options") or []
    return sorted({int(o["value"]) for o in picked})
