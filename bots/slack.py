"""Slack front-end (Bolt for Python): Bolt events in, conversation-core actions out.

Only translation lives here. A slash command or a direct message becomes ``Text``, a button
``Press``; the core's actions become Web API calls in the person's direct messages with the
app (never a channel): ``Send`` -> ``chat.postMessage``, ``Edit`` -> ``chat.update`` (the
card changes in place), ``Strip`` -> the same without buttons (an earlier card read back from
Slack: no worker keeps cards in memory), ``Delete`` -> ``chat.delete``,
``SendDocument`` -> a file upload (``bots.slack_files``). The App Home tab is the core's home
page (start, carry on, the result so far, erase), published when opened; its buttons are
ordinary presses answered in the DM.
Every request is acked within the request (``process_before_response``); the turn then runs
on a small thread pool. Before any listener: Bolt checks the signature, then
``bots.slack_http.Guard`` drops anything seen before and anyone not on the allowlist.

How it runs (gunicorn, Socket Mode): ``bots.slack_server``. Cards after sending:
``bots.slack_cards``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bots.config import SlackConfig, open_common_store, slack_web_client
from bots.slack_blocks import FORM_ACTION, FORM_ID, blocks, chosen, home_view
from bots.slack_cards import FORM_GONE, NOTIFICATION_TEXT, card_reader, form_view, strip
from bots.slack_files import delete, upload
from bots.slack_http import Guard, SkipTokenNotice, ack_then, actor, wsgi
from dvrules.api import DVRules, default_rules
from dvrules.chat import (
    FAILED,
    Action,
    Conversation,
    Delete,
    Edit,
    Event,
    Press,
    Reply,
    SendDocument,
    Strip,
    Text,
    log_id,
    session_id,
)
from dvrules.chat.conversation import choices_payload
from dvrules.store import SessionStore

log = logging.getLogger("dvrules.slack")

ACTION_ID = re.compile(r"^dv-\d{1,3}$")
# Turns run here, after the ack. Each mostly waits for Slack's Web API (tens of ms a call over
# the internet), so the pool is sized for waiting: with a 50 ms API at 200 conversations and 2
# workers, 2 threads gave 41 turns/s, 8 gave 68 and 16 gave 66 (benchmarks/scale.py
# --api-latency-ms 50); on loopback (no wait) they measure alike.
TURN_THREADS = 8
REMAINS = (
    "Erased from dvrules. This app's messages in this conversation were deleted; what "
    "you typed yourself stays in Slack until you delete it (hover over it, then More "
    "actions, Delete message)."
)


@dataclass
class _Where:
    """Where one turn's messages go: the direct message, its person, the pressed message."""

    dm: str
    user: str
    origin: dict[str, Any] | None = None


class SlackBot:
    """The Bolt app: the ``Guard`` as middleware; listeners ack, then queue the turn."""

    def __init__(
        self,
        config: SlackConfig,
        rules: DVRules | None = None,
        store: SessionStore | None = None,
        *,
        socket_mode: bool = False,
    ):
        self.config = config
        self.rules = rules or default_rules(config.common.area)
        self.store = store if store is not None else open_common_store(config.common)
        self.conversation = Conversation(self.rules, self.store, delete_within=None)
        client = slack_web_client(config)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        self.reader = card_reader(config)
        bolt_log = logging.getLogger("slack_bolt.dvrules")
        bolt_log.addFilter(SkipTokenNotice())
        self.app = App(
            client=client,
            signing_secret=config.signing_secret or "",
            request_verification_enabled=not socket_mode,
            logger=bolt_log,
            process_before_response=True,
        )
        self.pool = ThreadPoolExecutor(TURN_THREADS, "dvrules-turn")
        self.guard = Guard(config, self.store)
        self.app.use(self.guard.refuse_replays)
        self.app.use(self.guard.gate)
        self.app.command(config.command)(ack_then(self.pool, self.on_command, self.ack_command))
        self.app.action(ACTION_ID)(ack_then(self.pool, self.on_button))
        self.app.action(FORM_ACTION)(ack_then(self.pool, self.on_form_button))
        self.app.view(FORM_ID)(ack_then(self.pool, self.on_form))
        self.app.event("message")(ack_then(self.pool, self.on_message))
        self.app.event("app_home_opened")(ack_then(self.pool, self.on_home_opened))
        self.app.event(re.compile(".*"))(self.on_other_event)

    # -------------------------------------------------------------- listeners

    @staticmethod
    def ack_command(ack: Callable[..., None], body: dict[str, Any]) -> None:
        if str(body.get("channel_id", "")).startswith("D"):
            ack()
        else:
            ack(
                response_type="ephemeral",
                text="I've replied in your direct messages with "
                "this app, to keep answers out of channels.",
            )

    def on_command(self, body: dict[str, Any], context: Any, client: WebClient) -> None:
        channel = str(body.get("channel_id", ""))  # not a DM: the person's DM, found on sending
        self._turn(
            client,
            body,
            context,
            Text(str(body.get("text") or "start")),
            channel if channel.startswith("D") else "",
        )

    def on_button(
        self, body: dict[str, Any], action: dict[str, Any], context: Any, client: WebClient
    ) -> None:
        message = body.get("message") if isinstance(body.get("message"), dict) else None
        self._turn(
            client,
            body,
            context,
            Press(str(action.get("value", "")), (message or {}).get("ts")),
            (body.get("channel") or {}).get("id", ""),
            message,
        )  # App Home: no channel

    def on_form_button(
        self, body: dict[str, Any], action: dict[str, Any], client: WebClient
    ) -> None:
        view = form_view(self.rules, body, action)
        if view is not None:
            self._quietly(client.views_open, trigger_id=body["trigger_id"], view=view)
        elif isinstance(body.get("response_url"), str):  # a card from an older version
            self._quietly(
                WebhookClient(body["response_url"]).send,
                response_type="ephemeral",
                text=FORM_GONE,
                replace_original=False,
            )

    def on_form(
        self, body: dict[str, Any], view: dict[str, Any], context: Any, client: WebClient
    ) -> None:
        try:
            card = json.loads(view.get("private_metadata") or "")
            payload = choices_payload(int(card["serial"]), chosen(view))
        except (ValueError, TypeError, KeyError, AttributeError):
            return  # not a form we opened
        self._turn(client, body, context, Press(payload, str(card["ts"])), str(card["dm"]))

    def on_message(
        self, event: dict[str, Any], body: dict[str, Any], context: Any, client: WebClient
    ) -> None:
        if (
            event.get("channel_type") != "im"
            or event.get("subtype")
            or event.get("bot_id")
            or not isinstance(event.get("text"), str)
        ):
            return
        self._turn(
            client,
            body,
            context,
            Text(event["text"], str(event.get("ts") or "") or None),
            str(event.get("channel", "")),
        )

    def on_home_opened(
        self, event: dict[str, Any], body: dict[str, Any], context: Any, client: WebClient
    ) -> None:
        if event.get("tab") == "home":
            self._quietly(
                client.views_publish,
                user_id=actor(body, context)[2],
                view=home_view(self.conversation.home(self._sid(body, context))),
            )

    def on_other_event(self) -> None:
        """Events we are not interested in are acknowledged and dropped."""

    # -------------------------------------------------------------- one turn

    def _sid(self, body: dict[str, Any], context: Any) -> str:
        team, _, user = actor(body, context)
        return session_id("sl", self.config.common.id_salt, team or "", user or "")

    def _turn(
        self,
        client: WebClient,
        body: dict[str, Any],
        context: Any,
        event: Event,
        channel: str,
        origin: dict[str, Any] | None = None,
    ) -> None:
        sid = self._sid(body, context)
        where = _Where(channel, str(actor(body, context)[2] or ""), origin)
        try:
            with self.conversation.turn(sid, event) as reply:
                where.dm = where.dm or reply.channel.get("dm") or where.user
                for act in reply.actions:
                    self._act(client, reply, act, where)
                if where.dm.startswith("D") and not reply.forgotten:
                    reply.channel["dm"] = where.dm
                if reply.notice and isinstance(body.get("response_url"), str):  # a toast, of sorts
                    self._quietly(
                        WebhookClient(body["response_url"]).send,
                        text=reply.notice,
                        response_type="ephemeral",
                        replace_original=False,
                    )
            if reply.forgotten:  # the Home tab too, once the session's lock is released
                self._quietly(
                    client.views_publish,
                    user_id=where.user,
                    view=home_view(self.conversation.home(sid), REMAINS),
                )
        except Exception as err:  # noqa: BLE001 - anything: say so, log no content
            log.error(
                "error %s while handling a turn (session %s)", type(err).__name__, log_id(sid)
            )
            self._quietly(client.chat_postMessage, channel=where.dm or where.user, text=FAILED)
        log.info("turn handled (session %s)", log_id(sid))

    def _act(self, client: WebClient, reply: Reply, act: Action, where: _Where) -> None:
        if isinstance(act, Delete):  # a message, or an uploaded file (bots.slack_files)
            return delete(client, where.dm, act.message_id)
        if isinstance(act, SendDocument):
            return reply.sent(act, upload(client, where.dm, act))
        if isinstance(act, Strip):
            return strip(client, self.reader, where.dm, act.message_id, where.origin)
        parts = blocks(act.message)
        if reply.forgotten:
            parts[-1].append({"type": "context", "elements": [{"type": "mrkdwn", "text": REMAINS}]})
        if isinstance(act, Edit) and len(parts) == 1:
            try:
                client.chat_update(
                    channel=where.dm, ts=act.message_id, blocks=parts[0], text=NOTIFICATION_TEXT
                )
                return
            except SlackApiError:
                pass  # gone or too old: sent anew below
        for part in parts:
            sent = client.chat_postMessage(
                channel=where.dm,
                blocks=part,
                text=NOTIFICATION_TEXT,
                unfurl_links=False,
                unfurl_media=False,
            )
            where.dm = str(sent.get("channel") or where.dm)
        reply.sent(act, str(sent["ts"]))

    @staticmethod
    def _quietly(call: Callable[..., Any], **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except (SlackApiError, OSError) as err:
            log.warning("Slack refused %s: %s", call.__name__, type(err).__name__)

    def wsgi(self) -> Callable[..., Iterable[bytes]]:
        """The WSGI application: Slack requests at /slack/events, and GET /healthz."""
        return wsgi(self.app, self.config.signing_secret or "")
