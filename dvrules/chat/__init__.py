"""The channel-neutral conversation core: the terminal, Telegram and Slack all drive it.

``Conversation`` is the state machine (events in, a ``Reply`` of actions out; one locked load
and at most one save per turn), ``Composer`` builds every message, ``COMMANDS`` is the one
table of commands and ``Citation`` the one citation format. No chat SDK is imported here.
"""

from dvrules.chat.citation import Citation
from dvrules.chat.commands import (
    COMMANDS,
    Command,
    CommandSpec,
    help_lines,
    menu_commands,
    parse_command,
)
from dvrules.chat.compose import Composer, ResultItem, ResultView
from dvrules.chat.conversation import (
    MAX_PAYLOAD_BYTES,
    Action,
    Conversation,
    Delete,
    Edit,
    Event,
    Press,
    Reply,
    Send,
    SendDocument,
    Strip,
    Text,
    choices_payload,
    parse_payload,
)
from dvrules.chat.ids import FAILED, PRIVATE_ONLY, REFUSED, log_id, session_id
from dvrules.chat.messages import (
    EMERGENCY,
    PRIVACY,
    Button,
    Message,
    OutMessage,
    Paragraph,
    Span,
    b,
    i,
    pack,
    par,
    plain_text,
    short_label,
    utf16_len,
    wrap,
)

__all__ = [
    "Action",
    "Button",
    "COMMANDS",
    "Citation",
    "Command",
    "CommandSpec",
    "Composer",
    "Conversation",
    "Delete",
    "EMERGENCY",
    "Edit",
    "Event",
    "FAILED",
    "MAX_PAYLOAD_BYTES",
    "Message",
    "OutMessage",
    "PRIVACY",
    "PRIVATE_ONLY",
    "Paragraph",
    "Press",
    "REFUSED",
    "Reply",
    "ResultItem",
    "ResultView",
    "Send",
    "SendDocument",
    "Span",
    "Strip",
    "Text",
    "b",
    "choices_payload",
    "help_lines",
    "i",
    "log_id",
    "menu_commands",
    "pack",
    "par",
    "parse_command",
    "parse_payload",
    "plain_text",
    "session_id",
    "short_label",
    "utf16_len",
    "wrap",
]
