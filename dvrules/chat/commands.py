"""The one table of chat commands: names, arguments and help texts.

Every channel's help, the terminal's hints and Telegram's command menu come from ``COMMANDS``;
the conversation dispatches on ``CommandSpec.name``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSpec:
    name: str
    help: str
    arg: str = ""  # how its argument is written in help, e.g. "N"
    menu: bool = True  # listed in Telegram's command menu
    aliases: tuple[str, ...] = ()


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", "choose an assessment, or carry on with one", aliases=("menu",)),
    CommandSpec("help", "commands, and in immediate danger call 999"),
    CommandSpec("back", "look again at the previous question (later answers are kept)"),
    CommandSpec("skip", 'answer "don\'t know" to this question'),
    CommandSpec("keep", "keep the answer you are looking at again, and carry on"),
    CommandSpec("answers", "list what has been answered, numbered"),
    CommandSpec("change", "change answer N of that list (or by its id)", arg="N"),
    CommandSpec("result", "the result so far"),
    CommandSpec("report", "a finished self-assessment's full report, as a file", menu=False),
    CommandSpec("why", "why item N of the result is as it is, and its source", arg="N"),
    CommandSpec("summary", "how far you have got (counts only)"),
    CommandSpec("more", "show the question's help, definition and source"),
    CommandSpec(
        "cancel",
        "stop for now (answers are kept until they expire)",
        aliases=("quit", "exit", "stop"),
    ),
    CommandSpec("forget", "erase everything stored for this chat, now"),
)

_BY_NAME = {name: c for c in COMMANDS for name in (c.name, *c.aliases)}
_COMMAND = re.compile(
    r"^/?(?P<name>[a-z]+)(?:@[A-Za-z0-9_]{1,64})?(?:\s+(?P<arg>.*))?$", re.IGNORECASE | re.DOTALL
)


@dataclass(frozen=True)
class Command:
    name: str
    arg: str = ""


def parse_command(text: str) -> Command | None:
    """A command if the text is one (``/why 3``, ``why 3``, ``/start@mybot``, ``Back``);
    an alias gives its command's name."""
    m = _COMMAND.match(text.strip())
    if not m:
        return None
    spec = _BY_NAME.get(m.group("name").lower())
    if spec is None:
        return None
    return Command(spec.name, (m.group("arg") or "").strip())


def is_unknown_command(text: str) -> bool:
    """``/something`` that is not a command (never read as an answer)."""
    t = text.strip()
    return t.startswith("/") and parse_command(t) is None


def menu_commands() -> list[tuple[str, str]]:
    """(name, help) for Telegram's ``setMyCommands``."""
    return [(c.name, c.help) for c in COMMANDS if c.menu]


def help_lines() -> list[str]:
    """One line per command, as every channel's help lists them."""
    return [f"{c.name}{' ' + c.arg if c.arg else ''}: {c.help}" for c in COMMANDS]
