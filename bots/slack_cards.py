"""Question cards after they were sent, whichever worker sent them.

No worker keeps a card in memory: taking the buttons off an earlier card reads it back from
Slack (``conversations.history``, needs ``im:history``), and a card's "Choose in a form" button
carries what its form needs (question id, serial, options ticked; ``slack_blocks.form_value``),
the labels coming from the knowledge.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bots.config import SlackConfig, slack_web_client
from bots.slack_blocks import choices_form, read_form_value, without_buttons
from dvrules.api import DVRules
from dvrules.chat import choice_labels

log = logging.getLogger("dvrules.slack")

NOTIFICATION_TEXT = "dvrules: new message"  # what a lock screen shows: no case details
FORM_GONE = "That form is no longer available: tap the options, or type their numbers."
READ_TIMEOUT = 5  # s: reading an earlier card back is a nicety, not worth a long wait


def card_reader(config: SlackConfig) -> WebClient:
    """The client that reads earlier cards back. It never waits out a rate limit (Slack limits
    conversations.history tightly): refused, the card keeps its buttons."""
    return slack_web_client(config, timeout=READ_TIMEOUT)


def strip(
    client: WebClient, reader: WebClient, dm: str, ts: str, origin: dict[str, Any] | None
) -> None:
    """Take the buttons off card ``ts``: the pressed message as the request carries it, or
    any other read back from Slack; left as it is if Slack will not say."""
    shown = (
        (origin or {}).get("blocks") if (origin or {}).get("ts") == ts else _shown(reader, dm, ts)
    )
    if isinstance(shown, list) and without_buttons(shown) != shown:
        try:
            client.chat_update(
                channel=dm, ts=ts, blocks=without_buttons(shown), text=NOTIFICATION_TEXT
            )
        except (SlackApiError, OSError) as err:
            log.warning("Slack refused chat_update: %s", type(err).__name__)


def _shown(reader: WebClient, dm: str, ts: str) -> list[dict[str, Any]] | None:
    try:
        found = reader.conversations_history(channel=dm, latest=ts, inclusive=True, limit=1)
    except (SlackClientError, OSError, ValueError) as err:
        log.warning("Slack refused conversations_history: %s", type(err).__name__)
        return None
    for message in found.get("messages") or []:
        if isinstance(message, dict) and message.get("ts") == ts:
            shown = message.get("blocks")
            return shown if isinstance(shown, list) else None
    return None


def form_view(
    rules: DVRules, body: dict[str, Any], action: dict[str, Any]
) -> dict[str, Any] | None:
    """The modal for a card's "Choose in a form" press, or None when the button is not one
    this version made (an older card, a forged value) or the press cannot open a form."""
    message, channel = body.get("message") or {}, (body.get("channel") or {}).get("id")
    form = read_form_value(str(action.get("value", "")))
    if form is None or form[0] not in rules.kb.questions:
        return None
    q = rules.question_view(form[0])
    if q.type != "multi_choice" or not (body.get("trigger_id") and message.get("ts") and channel):
        return None
    private = json.dumps({"ts": message["ts"], "dm": channel, "serial": form[1]})
    return choices_form(q.text, choice_labels(q), form[2], private)
