"""Composer messages as plain text (the terminal, wrapped at word boundaries) or Markdown.

The chat platforms' formatters live in their adapters (Telegram HTML, Slack mrkdwn); these two
serve the terminal and ``dvrules assess --format text|markdown``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dvrules.chat.messages import Message, Paragraph, wrap


def text(paragraphs: Sequence[Paragraph], width: int | None = None) -> str:
    """Plain text, paragraphs separated by a blank line, wrapped to ``width`` if given."""
    out = "\n\n".join("".join(s.text for s in p).rstrip("\n") for p in paragraphs)
    return wrap(out, width) if width else out


def markdown(paragraphs: Sequence[Paragraph]) -> str:
    """Markdown: a bold span that starts a paragraph and ends its first line is a heading;
    emphasis characters in the text itself are escaped."""
    out = []
    for n, p in enumerate(paragraphs):
        first = p[0]
        rest = p[1:]
        if first.bold and (first.text.endswith("\n") or not rest):
            level = "# " if n == 0 else "## "
            body = "".join(_md(s.text, s.bold, s.italic) for s in rest).rstrip("\n")
            head = _md(first.text.strip(), False, False)
            out.append(level + head + ("\n\n" + body if body else ""))
        else:
            out.append("".join(_md(s.text, s.bold, s.italic) for s in p).rstrip("\n"))
    # a line break inside a paragraph is a hard break in Markdown (two spaces before it)
    return "\n\n".join(part.replace("\n", "  \n").replace("  \n  \n", "\n\n") for part in out)


def _md(text: str, bold: bool, italic: bool) -> str:
    text = re.sub(r"([\\`*_])", r"\\\1", text)
    mark = ("**" if bold else "") + ("_" if italic else "")
    if not mark:
        return text
    lines = []
    for line in text.split("\n"):
        core = line.strip()
        lines.append(line.replace(core, f"{mark}{core}{mark[::-1]}", 1) if core else line)
    return "\n".join(lines)


def message_text(message: Message, width: int | None = None) -> str:
    return text(message.paragraphs, width)
