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

Run: HTTP mode through gunicorn (Procfile: ``bots.slack:create_wsgi_app()``, which also answers
``GET /healthz``), or ``python -m bots.slack --socket-mode``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from bots.config import (
    SlackConfig,
    check,
    open_common_store,
    open_store_or_exit,
    setup_logging,
    slack_config,
)
from bots.slack_blocks import (
    FORM_ACTION,
    FORM_ID,
    blocks,
    choices_form,
    chosen,
    home_view,
    read_form_value,
    without_buttons,
)
from bots.slack_files import delete, upload
from bots.slack_http import Guard, SkipTokenNotice, actor, wsgi
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
    choice_labels,
    log_id,
    session_id,
)
from dvrules.chat.conversation import choices_payload
from dvrules.store import SessionStore

log = logging.getLogger("dvrules.slack")

# Notifications (a phone's lock screen) show a message's text: keep it free of case details.
NOTIFICATION_TEXT = "dvrules: new message"
ACTION_ID = re.compile(r"^dv-\d{1,3}$")
# Turns run here, after the ack. Each mostly waits for Slack's Web API (tens of ms a call over
# the internet), so the pool is sized for waiting: with a 50 ms API at 200 conversations and 2
# workers, 2 threads gave 41 turns/s, 8 gave 68 and 16 gave 66 (benchmarks/scale.py
# --api-latency-ms 50); on loopback (no wait) they measure alike.
TURN_THREADS = 8
SWITCH_INTERVAL = (
    0.001  # s: a thread acking waits at most this for the GIL (Python's default: 5 ms)
)
READ_TIMEOUT = 5  # s: reading an earlier card back is a nicety, not worth a long wait
FORM_GONE = "That form is no longer available: tap the options, or type their numbers."
REMAINS = (
    "Erased from dvrules. This app's messages in this conversation were deleted; what "
    "you typed yourself stays in Slack until you delete it (hover over it, then More "
    "actions, Delete message)."
)


def _web_client(config: SlackConfig, **kwargs: Any) -> WebClient:
    if config.api_url:
        kwargs["base_url"] = config.api_url
    return WebClient(token=config.bot_token, **kwargs)


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
        client = _web_client(config)
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
        # Reads an earlier card back, to take its buttons off. It never waits out a rate limit
        # (Slack limits conversations.history tightly): refused, the card keeps its buttons.
        self.reader = _web_client(config, timeout=READ_TIMEOUT)
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
        self.app.command(config.command)(self._later(self.on_command, self.ack_command))
        self.app.action(ACTION_ID)(self._later(self.on_button))
        self.app.action(FORM_ACTION)(self._later(self.on_form_button))
        self.app.view(FORM_ID)(self._later(self.on_form))
        self.app.event("message")(self._later(self.on_message))
        self.app.event("app_home_opened")(self._later(self.on_home_opened))
        self.app.event(re.compile(".*"))(self.on_other_event)

    # -------------------------------------------------------------- listeners

    def _later(
        self, work: Callable[..., None], ack_with: Callable[..., None] | None = None
    ) -> Callable[..., None]:
        """A listener that acks within the request, then queues ``work`` on the turn pool
        (Bolt's lazy listeners would first deep-copy the whole request, on the ack's time)."""
        wanted = inspect.signature(work).parameters

        def listener(
            ack: Callable[..., None],
            body: dict[str, Any],
            context: Any,
            client: WebClient,
            event: Any,
            action: Any,
            view: Any,
        ) -> None:
            (ack_with or (lambda ack, body: ack()))(ack, body)
            given = {
                "body": body,
                "context": context,
                "client": client,
                "event": event,
                "action": action,
                "view": view,
            }
            self.pool.submit(work, **{k: v for k, v in given.items() if k in wanted})

        return listener

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
        """Open the card's form from what the button carries (``slack_blocks.form_value``) and
        the knowledge: no memory of the card, so any worker can open it."""
        message, channel = body.get("message") or {}, (body.get("channel") or {}).get("id")
        form = read_form_value(str(action.get("value", "")))
        known = form is not None and form[0] in self.rules.kb.questions
        q = self.rules.question_view(form[0]) if form is not None and known else None
        if (
            form is not None
            and q is not None
            and q.type == "multi_choice"
            and body.get("trigger_id")
            and message.get("ts")
            and channel
        ):
            private = json.dumps({"ts": message["ts"], "dm": channel, "serial": form[1]})
            self._quietly(
                client.views_open,
                trigger_id=body["trigger_id"],
                view=choices_form(q.text, choice_labels(q), form[2], private),
            )
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
            origin = where.origin or {}
            shown = (
                origin.get("blocks")
                if origin.get("ts") == act.message_id
                else self._shown(where.dm, act.message_id)
            )
            if isinstance(shown, list) and without_buttons(shown) != shown:
                self._quietly(
                    client.chat_update,
                    channel=where.dm,
                    ts=act.message_id,
                    blocks=without_buttons(shown),
                    text=NOTIFICATION_TEXT,
                )
            return
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

    def _shown(self, dm: str, ts: str) -> list[dict[str, Any]] | None:
        """The blocks of this app's message ``ts`` in the direct message, as Slack has them
        (whichever worker sent it; needs ``im:history``); None if Slack will not say."""
        try:
            found = self.reader.conversations_history(
                channel=dm, latest=ts, inclusive=True, limit=1
            )
        except (SlackClientError, OSError, ValueError) as err:
            log.warning("Slack refused conversations_history: %s", type(err).__name__)
            return None
        for message in found.get("messages") or []:
            if isinstance(message, dict) and message.get("ts") == ts:
                shown = message.get("blocks")
                return shown if isinstance(shown, list) else None
        return None

    @staticmethod
    def _quietly(call: Callable[..., Any], **kwargs: Any) -> None:
        try:
            call(**kwargs)
        except (SlackApiError, OSError) as err:
            log.warning("Slack refused %s: %s", call.__name__, type(err).__name__)

    def wsgi(self) -> Callable[..., Iterable[bytes]]:
        """The WSGI application: Slack requests at /slack/events, and GET /healthz."""
        return wsgi(self.app, self.config.signing_secret or "")


def create_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """gunicorn entry point (``'bots.slack:create_wsgi_app()'``): configuration from the
    environment, checked before anything starts."""
    config = check(slack_config, "dvrules slack")
    sys.setswitchinterval(SWITCH_INTERVAL)  # acks first: turns are CPU-bound, acks are short
    setup_logging(config.common.log_level)
    log.info("Slack bot starting (HTTP mode)")
    return SlackBot(config, store=open_store_or_exit(config.common, "dvrules slack")).wsgi()


def run_socket_mode() -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    config = check(slack_config, "dvrules slack", socket_mode=True)
    setup_logging(config.common.log_level)
    bot = SlackBot(
        config, store=open_store_or_exit(config.common, "dvrules slack"), socket_mode=True
    )
    web = WebClient(token=config.app_token, base_url=config.api_url) if config.api_url else None
    handler = SocketModeHandler(bot.app, config.app_token, web_client=web)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    handler.connect()
    log.info("Slack bot started (Socket Mode)")
    stopped.wait()
    handler.close()
    log.info("Slack bot stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bots.slack", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)",
    )
    args = parser.parse_args(argv)
    if not args.socket_mode:
        parser.error("HTTP mode runs under gunicorn: see the Procfile; or pass --socket-mode")
    run_socket_mode()
    sys.exit(0)


if __name__ == "__main__":
    main()
