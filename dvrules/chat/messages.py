"""Channel-neutral message parts: styled paragraphs, buttons, and splitting them to fit.

Every channel renders what the composer builds from these; none builds text of its own. A message is a list of
paragraphs, each an unbreakable unit (one result item, one question), made of spans that are
plain, bold or italic. A platform turns spans into its markup (escaping every span) and uses
``pack`` to split a long message at paragraph boundaries within its size limit, so an item is
never cut in two unless it alone is over the limit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

EMERGENCY = "In immediate danger: call 999."
PRIVACY = (
    "Please do not enter names, addresses, dates of birth or any other detail that could "
    "identify someone: I only need the answers to my questions."
)


@dataclass(frozen=True)
class Span:
    text: str
    bold: bool = False
    italic: bool = False


Paragraph = tuple[Span, ...]


@dataclass(frozen=True)
class Button:
    label: str
    payload: str  # an opaque action string, at most 64 bytes (validated by the core)


Kind = Literal["danger", "card", "result", "why", "answers", "info", "menu", "forget", "home"]


@dataclass
class Message:
    """One message to show: paragraphs, then rows of buttons.

    ``kind`` says what it is (a channel may treat a question card or a danger message
    specially); ``protect`` marks content derived from case answers (Telegram sends it with
    ``protect_content``, so it cannot be forwarded or saved). ``meta`` describes a question
    card for a channel that shows it its own way (a Slack modal): flow, question, type,
    serial, options and the indexes selected.
    """

    paragraphs: list[Paragraph]
    buttons: list[list[Button]] = field(default_factory=list)
    kind: Kind = "info"
    protect: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    def plain(self) -> str:
        return plain_text(self.paragraphs)


OutMessage = Message  # the name the first bots used


@dataclass
class Turn:
    """Everything a bot does in reply to one message or button press."""

    messages: list[OutMessage] = field(default_factory=list)
    replace_origin: OutMessage | None = None  # new content for the message whose button was pressed
    close_origin: bool = False  # remove the buttons from the message whose button was pressed


def par(*spans: Span | str) -> Paragraph:
    return tuple(s if isinstance(s, Span) else Span(s) for s in spans)


def b(text: str) -> Span:
    return Span(text, bold=True)


def i(text: str) -> Span:
    return Span(text, italic=True)


def short_label(text: str, limit: int = 60) -> str:
    """A button label: whole if short, else cut with an ellipsis (Slack allows 75)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def plain_text(paragraphs: Sequence[Paragraph]) -> str:
    """The paragraphs as plain text, exactly as a person reads them on any platform."""
    return "\n\n".join("".join(s.text for s in p) for p in paragraphs)


# ---------------------------------------------------------------------- splitting


def pack(
    paragraphs: Sequence[Paragraph],
    limit: int,
    fmt: Callable[[Paragraph], str],
    measure: Callable[[str], int] = len,
    sep: str = "\n\n",
) -> list[str]:
    """Format paragraphs and join them into as few chunks as fit ``limit`` each.

    Chunks break only between paragraphs; a paragraph longer than the limit on its own is
    broken between lines, and a line longer than the limit between words (as plain text).
    """
    pieces = [piece for p in paragraphs for piece in _fit(p, limit, fmt, measure)]
    return _join_within(pieces, sep, limit, measure)


def _join_within(
    pieces: Sequence[str], sep: str, limit: int, measure: Callable[[str], int]
) -> list[str]:
    """Join pieces greedily with ``sep`` into chunks of at most ``limit`` (each piece fits)."""
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        joined = f"{current}{sep}{piece}" if current else piece
        if measure(joined) <= limit:
            current = joined
        else:
            if current:
                chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return chunks


def _fit(
    p: Paragraph, limit: int, fmt: Callable[[Paragraph], str], measure: Callable[[str], int]
) -> list[str]:
    whole = fmt(p)
    if measure(whole) <= limit:
        return [whole]
    # Break between lines, keeping each span's style.
    lines: list[list[Span]] = [[]]
    for s in p:
        parts = s.text.split("\n")
        for n, part in enumerate(parts):
            if n:
                lines.append([])
            if part:
                lines[-1].append(Span(part, s.bold, s.italic))
    pieces: list[str] = []
    for line in lines:
        text = fmt(tuple(line))
        if measure(text) > limit:  # one enormous line: cut between words, unstyled
            pieces += _cut_words("".join(s.text for s in line), limit, fmt, measure)
        else:
            pieces.append(text)
    return _join_within(pieces, "\n", limit, measure)


def _cut_words(
    text: str, limit: int, fmt: Callable[[Paragraph], str], measure: Callable[[str], int]
) -> list[str]:
    out: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if measure(fmt((Span(candidate),))) <= limit:
            current = candidate
            continue
        if current:
            out.append(fmt((Span(current),)))
        current = word
        while measure(fmt((Span(current),))) > limit:  # a single word over the limit
            cut = limit
            while cut > 1 and measure(fmt((Span(current[:cut]),))) > limit:
                cut = max(1, cut * 9 // 10)
            out.append(fmt((Span(current[:cut]),)))
            current = current[cut:]
    if current:
        out.append(fmt((Span(current),)))
    return out


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def wrap(text: str, width: int) -> str:
    """Text wrapped at word boundaries to ``width`` columns, keeping its own line breaks and the
    indent of each line (a word longer than a line is left whole, never cut)."""
    out: list[str] = []
    for line in text.split("\n"):
        indent = line[: len(line) - len(line.lstrip(" "))]
        words = line.split()
        if not words:
            out.append("")
            continue
        current = indent + words[0]
        # a list item's continuation lines line up under its text
        hang = indent + " " * (
            len(words[0]) + 1 if words[0] in ("-", "*") or words[0].rstrip(".").isdigit() else 0
        )
        for word in words[1:]:
            if len(current) + 1 + len(word) <= width:
                current += " " + word
            else:
                out.append(current)
                current = hang + word
        out.append(current)
    return "\n".join(out)
