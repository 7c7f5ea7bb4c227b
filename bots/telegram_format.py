"""Telegram's rendering of the conversation core's messages: HTML text in parts that fit one
message, and inline keyboards. The text itself comes from the core (``dvrules.chat``)."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit

from dvrules.chat import Message, Paragraph, pack, utf16_len


def fmt(p: Paragraph) -> str:
    """A paragraph as Telegram HTML: every span escaped, then styled."""
    out = []
    for s in p:
        text = html.escape(s.text, quote=False)
        text = f"<b>{text}</b>" if s.bold else text
        out.append(f"<i>{text}</i>" if s.italic else text)
    return "".join(out)


def chunks(msg: Message) -> list[str]:
    return pack(msg.paragraphs, MessageLimit.MAX_TEXT_LENGTH, fmt, utf16_len)


def keyboard(msg: Message) -> InlineKeyboardMarkup | None:
    if not msg.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(bt.label, callback_data=bt.payload) for bt in row]
            for row in msg.buttons
        ]
    )
