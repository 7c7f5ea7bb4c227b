"""What every command prints through: the two consoles, the list formats, and ``fail``.

Its own module so the CLI and the command groups registered on it (the audit pack) share one
refusal format without importing each other.
"""

from __future__ import annotations

from enum import Enum
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class ListFormat(str, Enum):
    json = "json"
    text = "text"


def fail(message: str) -> NoReturn:
    """One clear line on stderr and exit code 2 (control characters from a file are shown
    escaped: they could break the line or drive the terminal)."""
    message = "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message
    )
    err_console.print(escape(message), soft_wrap=True)
    raise typer.Exit(2)
