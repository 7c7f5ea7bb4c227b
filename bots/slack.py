"""Slack front-end (Bolt for Python): a slash command, direct messages and Block Kit buttons.

Only translation lives here: a slash command, a direct message or a button press becomes
``Conversation.text`` or ``Conversation.button``, and the returned Turn becomes Block Kit
messages in the person's direct messages with the app (never in a channel). Bolt checks every
request's signature and timestamp first; then ``dedupe`` drops retried events, and ``gate``
refuses a team, enterprise or user not on the allowlist (``actor_*`` ids first, for Slack
Connect) with one polite sentence and nothing stored.

Run: HTTP mode through gunicorn (see Procfile: ``bots.slack:create_wsgi_app()``, which also
answers ``GET /healthz``), or ``python -m bots.slack --socket-mode``.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import re
import signal
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from dvrules.api import DVRules, default_rules
from dvrules.store import SessionStore, TinyDBStore

from dvrules.chat import legacy_render as render
from bots.config import SlackConfig, check, open_store_or_exit, setup_logging, slack_config
from dvrules.chat.legacy import FAILED, REFUSED, Conversation, log_id, session_id
from dvrules.chat.messages import OutMessage, Paragraph, Turn

log = logging.getLogger("dvrules.slack")

SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
BLOCKS_PER_MESSAGE = 50
CHARACTERS_PER_MESSAGE = 12000  # well under Slack's message size limits, and readable
BUTTONS_PER_ACTIONS_BLOCK = 25
BUTTON_TEXT_LIMIT = 75
# Notifications (a phone's lock screen) show a message's text: keep it free of case details.
NOTIFICATION_TEXT = "dvrules: new message"
ACTION_ID = re.compile(r"^dv-\d{1,3}$")
REPLAY_WINDOW = 6 * 60  # Bolt accepts a signature for five minutes; remember it a little longer
TURN_THREADS = 4  # turns run here, after the ack; one per session at a time


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _style(text: str, mark: str) -> str:
    """Wrap each line's words in ``mark``, keeping spaces outside (as mrkdwn needs)."""
    out = []
    for line in text.split("\n"):
        core = line.strip()
        if not core:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()):]
        out.append(f"{lead}{mark}{core}{mark}{trail}")
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


def blocks(msg: OutMessage) -> list[list[dict[str, Any]]]:
    """A message as Block Kit: one or more Slack messages of at most 50 blocks each."""
    sections: list[dict[str, Any]] = []
    for p in msg.paragraphs:
        for piece in render.pack([p], SECTION_LIMIT, fmt):
            sections.append({"type": "section",
                             "text": {"type": "mrkdwn", "text": piece, "verbatim": True}})
    actions: list[dict[str, Any]] = []
    n = 0
    for row in msg.buttons:
        for start in range(0, len(row), BUTTONS_PER_ACTIONS_BLOCK):
            elements = []
            for bt in row[start:start + BUTTONS_PER_ACTIONS_BLOCK]:
                elements.append({"type": "button", "action_id": f"dv-{n}", "value": bt.payload,
                                 "text": {"type": "plain_text", "emoji": False,
                                          "text": bt.label[:BUTTON_TEXT_LIMIT]}})
                n += 1
            actions.append({"type": "actions", "elements": elements})
    messages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for section in sections:
        length = len(section["text"]["text"])
        if messages[-1] and (len(messages[-1]) >= BLOCKS_PER_MESSAGE
                             or size + length > CHARACTERS_PER_MESSAGE):
            messages.append([])
            size = 0
        messages[-1].append(section)
        size += length
    if len(messages[-1]) + len(actions) > BLOCKS_PER_MESSAGE:
        messages.append([])
    messages[-1] += actions
    return [m for m in messages if m]


class Seen:
    """Keys seen in the last ``ttl`` seconds, in this process: a request signature, a
    ``trigger_id``, an ``action_ts`` or an event id met twice is a replay or a retry."""

    def __init__(self, ttl_seconds: float = REPLAY_WINDOW, size: int = 200_000):
        self.ttl, self.size = ttl_seconds, size
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, keys: list[str]) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._seen and (len(self._seen) >= self.size
                                  or now - next(iter(self._seen.values())) > self.ttl):
                self._seen.popitem(last=False)
            if any(k in self._seen for k in keys):
                return False
            self._seen.update((k, now) for k in keys)
            return True


def replay_keys(req: BoltRequest) -> list[str]:
    """What makes a request unique: its signature (HTTP), event id, trigger id, action times."""
    body, keys = req.body, []
    signature = req.headers.get("x-slack-signature", [None])[0]
    if signature:
        keys.append("sig:" + signature)
    if body.get("type") == "event_callback" and isinstance(body.get("event_id"), str):
        keys.append("ev:" + body["event_id"])
    if isinstance(body.get("trigger_id"), str):
        keys.append("tr:" + body["trigger_id"])
    for action in body.get("actions") or []:
        if isinstance(action, dict) and isinstance(action.get("action_ts"), str):
            keys.append(f"at:{req.context.user_id}:{action['action_ts']}")
    return keys


_OBJECTS = ("user", "team", "channel", "enterprise", "event", "message", "container", "view")


def well_formed(body: object) -> bool:
    """The parts of a payload Bolt and this module read have the types Slack gives them."""
    if not isinstance(body, dict):
        return False
    actions = body.get("actions", [])
    parts = [body, *(body[k] for k in _OBJECTS if body.get(k) is not None),
             *(actions if isinstance(actions, list) else [None])]
    return all(isinstance(part, dict) and all(
        isinstance(v, str) for k, v in part.items()
        if v is not None and (k in ("id", "ts") or k.endswith(("_id", "_ts"))))
        for part in parts)


def actor(body: dict[str, Any], context: Any) -> tuple[str | None, str | None, str | None]:
    """The (team, enterprise, user) of the person acting. In a Slack Connect channel a button
    press carries the host's ``team.id``: the presser's own team is ``user.team_id``, and the
    host's enterprise then says nothing about them."""
    team = context.actor_team_id or context.team_id
    enterprise = context.actor_enterprise_id or context.enterprise_id
    who = body.get("user")
    if isinstance(who, dict) and isinstance(who.get("team_id"), str):
        if who["team_id"] != team:
            enterprise = None
        team = who["team_id"]
    return team, enterprise, context.actor_user_id or context.user_id


class _SkipTokenNotice(logging.Filter):
    """Bolt also reads SLACK_BOT_TOKEN itself and warns that the client's copy wins: it does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


class SlackBot:
    """The Bolt app: replay refusal and the allowlist as middleware, then listeners that ack
    in the request (``process_before_response``) and run the turn lazily on a thread pool."""

    def __init__(self, config: SlackConfig, rules: DVRules | None = None,
                 store: SessionStore | None = None, *, socket_mode: bool = False):
        self.config = config
        self.rules = rules or default_rules(config.common.area)
        self.store = store if store is not None else TinyDBStore(config.common.store_dir)
        self.conversation = Conversation(self.rules, self.store)
        self.seen = Seen()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        client = (WebClient(token=config.bot_token, base_url=config.api_url)
                  if config.api_url else WebClient(token=config.bot_token))
        bolt_log = logging.getLogger("slack_bolt.dvrules")
        bolt_log.addFilter(_SkipTokenNotice())
        self.app = App(client=client, signing_secret=config.signing_secret or "",
                       request_verification_enabled=not socket_mode, logger=bolt_log,
                       process_before_response=True,
                       listener_executor=ThreadPoolExecutor(TURN_THREADS, "dvrules-turn"))
        self.app.use(self.refuse_replays)
        self.app.use(self.gate)
        self.app.command(config.command)(ack=self.ack_command, lazy=[self.on_command])
        self.app.action(ACTION_ID)(ack=self.ack, lazy=[self.on_button])
        self.app.event("message")(ack=self.ack, lazy=[self.on_message])
        self.app.event(re.compile(".*"))(self.on_other_event)

    # -------------------------------------------------------------- middleware

    def refuse_replays(self, req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
        """Bolt accepts any request signed in the last five minutes: one seen before (same
        signature, event, trigger or action) is answered 200 and does nothing."""
        if self.seen.first_time(replay_keys(req)):
            next()
            return None
        log.info("ignored a replayed or retried request")
        return BoltResponse(status=200, body="")

    def allowed(self, team: str | None, enterprise: str | None, user: str | None) -> bool:
        c = self.config
        place = (team is not None and team in c.allowed_teams) or (
            enterprise is not None and enterprise in c.allowed_enterprises)
        person = user is not None and (not c.allowed_users or user in c.allowed_users)
        return place and person

    def gate(self, context: Any, body: dict[str, Any], client: WebClient,
             next: Callable[[], None]) -> BoltResponse | None:
        """Runs on every request after Bolt's signature check: allowlisted people only."""
        team, enterprise, user = actor(body, context)
        if self.allowed(team, enterprise, user):
            next()
            return None
        log.info("refused a request from a team or user not on the allowlist")
        kind = body.get("type") or ("command" if "command" in body else "other")
        if kind == "command":
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": REFUSED})
        try:
            if kind == "block_actions" and body.get("response_url"):
                # Answer through the button's own response URL: ephemeral, nothing stored.
                from slack_sdk.webhook import WebhookClient
                WebhookClient(body["response_url"]).send(
                    text=REFUSED, response_type="ephemeral", replace_original=False)
            elif kind == "event_callback":
                event = body.get("event") or {}
                if (event.get("type") == "message" and event.get("channel_type") == "im"
                        and not event.get("subtype") and not event.get("bot_id") and user):
                    client.chat_postMessage(channel=event["channel"], text=REFUSED)
        except (SlackApiError, OSError):
            log.warning("could not send a refusal")
        return BoltResponse(status=200, body="")

    # -------------------------------------------------------------- listeners

    def _sid(self, body: dict[str, Any], context: Any) -> str:
        team, _, user = actor(body, context)
        return session_id("sl", self.config.common.id_salt, team or "", user or "")

    @staticmethod
    def ack(ack: Callable[..., None]) -> None:
        ack()

    @staticmethod
    def ack_command(ack: Callable[..., None], body: dict[str, Any]) -> None:
        if str(body.get("channel_id", "")).startswith("D"):
            ack()
        else:
            ack(response_type="ephemeral",
                text="I've replied in your direct messages with this app, to keep answers "
                     "out of channels.")

    def on_command(self, body: dict[str, Any], context: Any, client: WebClient) -> None:
        channel = str(body.get("channel_id", ""))
        sid = self._sid(body, context)
        self._turn(client, sid, channel if channel.startswith("D") else actor(body, context)[2],
                   None, lambda: self.conversation.text(sid, body.get("text") or "start"))

    def on_button(self, body: dict[str, Any], action: dict[str, Any], context: Any,
                  client: WebClient) -> None:
        sid = self._sid(body, context)
        channel = (body.get("channel") or {}).get("id") or actor(body, context)[2]
        message = body.get("message") if isinstance(body.get("message"), dict) else None
        self._turn(client, sid, channel, message,
                   lambda: self.conversation.button(sid, action.get("value")))

    def on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any,
                   client: WebClient) -> None:
        if (event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id")
                or not isinstance(event.get("text"), str)):
            return
        sid = self._sid(body, context)
        self._turn(client, sid, event["channel"], None,
                   lambda: self.conversation.text(sid, event["text"]))

    def on_other_event(self) -> None:
        """Events we are not interested in are acknowledged and dropped."""

    # -------------------------------------------------------------- sending

    def _lock(self, sid: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(sid, threading.Lock())

    def _turn(self, client: WebClient, sid: str, channel: str,
              origin: dict[str, Any] | None, work: Callable[[], Turn]) -> None:
        with self._lock(sid):
            try:
                turn = work()
            except Exception as err:  # noqa: BLE001 - anything: say so, log no content
                log.error("error %s while handling a turn (session %s)", type(err).__name__,
                          log_id(sid))
                turn = Turn([OutMessage([render.par(FAILED)])])
            log.info("turn handled (session %s)", log_id(sid))
            try:
                self.send(client, channel, turn, origin)
            except SlackApiError as err:
                log.error("Slack refused a message: %s", err.response.get("error"))

    def send(self, client: WebClient, channel: str, turn: Turn,
             origin: dict[str, Any] | None) -> None:
        ts = origin.get("ts") if origin else None
        if ts and turn.replace_origin is not None:
            parts = blocks(turn.replace_origin)
            if len(parts) == 1:
                client.chat_update(channel=channel, ts=ts, blocks=parts[0],
                                   text=NOTIFICATION_TEXT)
            else:
                turn.messages.insert(0, turn.replace_origin)
        elif ts and turn.close_origin and origin is not None:
            old = [bl for bl in origin.get("blocks") or [] if isinstance(bl, dict)]
            kept = [bl for bl in old if bl.get("type") != "actions"]
            if kept != old:
                client.chat_update(channel=channel, ts=ts, blocks=kept, text=NOTIFICATION_TEXT)
        for msg in turn.messages:
            for part in blocks(msg):
                client.chat_postMessage(channel=channel, blocks=part, text=NOTIFICATION_TEXT,
                                        unfurl_links=False, unfurl_media=False)

    # -------------------------------------------------------------- serving

    def wsgi(self) -> Callable[..., Iterable[bytes]]:
        """The WSGI application: Slack requests at /slack/events, and GET /healthz."""

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
            if path == "/healthz" and method in ("GET", "HEAD"):
                status, body, kind = 200, json.dumps({"ok": True}), "application/json"
            elif path == "/slack/events" and method == "POST":
                status, body, kind = self.handle(WsgiHttpRequest(environ))
            else:
                status, body, kind = 404, "Not Found", "text/plain"
            data = body.encode()
            start_response(f"{status} {HTTPStatus(status).phrase}",
                           [("Content-Type", kind), ("Content-Length", str(len(data)))])
            return [data]

        return application

    def handle(self, request: WsgiHttpRequest) -> tuple[int, str, str]:
        """A request as Bolt takes it, except that a body or timestamp Bolt cannot read gets
        400 (401 if it is not signed) instead of a traceback and 500."""
        headers = request.get_headers()
        stamp = str(headers.get("x-slack-request-timestamp", "0"))
        if not re.fullmatch(r"[0-9]{1,12}", stamp):
            return 400, "Bad Request", "text/plain"
        data = b""
        try:
            data = request.environ["wsgi.input"].read(int(request.environ.get("CONTENT_LENGTH") or 0))
            req = BoltRequest(body=data.decode(), query=request.query_string, headers=headers)
            if not well_formed(req.body):
                raise ValueError("not a Slack payload")
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            log.info("refused a malformed request")
            mac = hmac.new((self.config.signing_secret or "").encode(),
                           b"v0:" + stamp.encode() + b":" + data, hashlib.sha256).hexdigest()
            fresh = abs(time.time() - int(stamp)) <= REPLAY_WINDOW - 60
            signed = fresh and hmac.compare_digest("v0=" + mac, str(headers.get("x-slack-signature")))
            return (400, "Bad Request", "text/plain") if signed else (401, "", "text/plain")
        resp = self.app.dispatch(req)
        return resp.status, resp.body, (resp.headers.get("content-type") or ["text/plain"])[0]


def create_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """gunicorn entry point (``'bots.slack:create_wsgi_app()'``): configuration from the
    environment, checked before anything starts."""
    config = check(slack_config, "dvrules slack")
    setup_logging(config.common.log_level)
    log.info("Slack bot starting (HTTP mode)")
    return SlackBot(config, store=open_store_or_exit(config.common, "dvrules slack")).wsgi()


def run_socket_mode() -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    config = check(slack_config, "dvrules slack", socket_mode=True)
    setup_logging(config.common.log_level)
    bot = SlackBot(config, store=open_store_or_exit(config.common, "dvrules slack"),
                   socket_mode=True)
    web = WebClient(token=config.app_token, base_url=config.api_url) if config.api_url else None
    handler = SocketModeHandler(bot.app, config.app_token, web_client=web)
    stopped = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handler.connect()
    log.info("Slack bot started (Socket Mode)")
    stopped.wait()
    handler.close()
    log.info("Slack bot stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bots.slack", description=__doc__.split("\n")[0])
    parser.add_argument("--socket-mode", action="store_true",
                        help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)")
    args = parser.parse_args(argv)
    if not args.socket_mode:
        parser.error("HTTP mode runs under gunicorn: see the Procfile; or pass --socket-mode")
    run_socket_mode()
    sys.exit(0)


if __name__ == "__main__":
    main()
