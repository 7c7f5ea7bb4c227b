"""What every Slack request goes through before the adapter sees it, in one place.

Bolt checks the signature and the timestamp; this module adds what it does not: a body or
timestamp it cannot read gets 400 instead of a 500 (``wsgi``); a request seen before, by any
worker sharing the session store, is a replay and does nothing (``Guard.refuse_replays``); the person acting, named by their own team
(``actor``, for Slack Connect), must be on the allowlist (``Guard.gate``). Every listener acks
within the request and queues its work (``ack_then``).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from http import HTTPStatus
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bots.config import SlackConfig
from dvrules.chat import REFUSED
from dvrules.store import LocalSeen, SeenRequests, StoreError, seen_requests

log = logging.getLogger("dvrules.slack")

REPLAY_WINDOW = 6 * 60  # Bolt accepts a signature for five minutes; remember it a little longer
_OBJECTS = ("user", "team", "channel", "enterprise", "event", "message", "container", "view")


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


def well_formed(body: object) -> bool:
    """The parts of a payload Bolt and the adapter read have the types Slack gives them."""
    if not isinstance(body, dict):
        return False
    actions = body.get("actions", [])
    parts = [
        body,
        *(body[k] for k in _OBJECTS if body.get(k) is not None),
        *(actions if isinstance(actions, list) else [None]),
    ]
    return all(
        isinstance(part, dict)
        and all(
            isinstance(v, str)
            for k, v in part.items()
            if v is not None and (k in ("id", "ts") or k.endswith(("_id", "_ts")))
        )
        for part in parts
    )


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


def handle(app: App, secret: str, request: WsgiHttpRequest) -> tuple[int, str, str]:
    """A request as Bolt takes it, except that a body or timestamp Bolt cannot read gets 400
    (401 if it is not signed) instead of a traceback and 500."""
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
        mac = hmac.new(
            secret.encode(), b"v0:" + stamp.encode() + b":" + data, hashlib.sha256
        ).hexdigest()
        fresh = abs(time.time() - int(stamp)) <= REPLAY_WINDOW - 60
        signed = fresh and hmac.compare_digest("v0=" + mac, str(headers.get("x-slack-signature")))
        return (400, "Bad Request", "text/plain") if signed else (401, "", "text/plain")
    resp = app.dispatch(req)
    return resp.status, resp.body, (resp.headers.get("content-type") or ["text/plain"])[0]


def wsgi(app: App, secret: str) -> Callable[..., Iterable[bytes]]:
    """The WSGI application: Slack requests at /slack/events, and GET /healthz."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body, kind = 200, json.dumps({"ok": True}), "application/json"
        elif path == "/slack/events" and method == "POST":
            status, body, kind = handle(app, secret, WsgiHttpRequest(environ))
        else:
            status, body, kind = 404, "Not Found", "text/plain"
        data = body.encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", kind), ("Content-Length", str(len(data)))],
        )
        return [data]

    return application


class Guard:
    """Bolt middleware, after its signature check: replays, then the allowlist.

    Requests seen are remembered in the session store (``SeenRequests``), so a retry or a
    replay is refused by whichever worker or machine it reaches (Redis: ``SET NX PX``; the
    file store: files beside the sessions; memory: this process)."""

    def __init__(self, config: SlackConfig, store: object | None = None):
        self.config = config
        self.seen: SeenRequests = seen_requests(store) if store is not None else LocalSeen()

    def refuse_replays(self, req: BoltRequest, next: Callable[[], None]) -> BoltResponse | None:
        """Bolt accepts any request signed in the last five minutes: one seen before (same
        signature, event, trigger or action) is answered 200 and does nothing. If the store
        cannot be reached the request goes on: its turn then says the store has a problem
        (a refusal here would make Slack retry, and tell the person nothing)."""
        try:
            first = self.seen.first_time(replay_keys(req), REPLAY_WINDOW)
        except StoreError as exc:
            log.warning("cannot check for replays: %s", exc)
            first = True
        if first:
            next()
            return None
        log.info("ignored a replayed or retried request")
        return BoltResponse(status=200, body="")

    def allowed(self, team: str | None, enterprise: str | None, user: str | None) -> bool:
        c = self.config
        place = (team is not None and team in c.allowed_teams) or (
            enterprise is not None and enterprise in c.allowed_enterprises
        )
        return place and user is not None and (not c.allowed_users or user in c.allowed_users)

    def gate(
        self, context: Any, body: dict[str, Any], client: WebClient, next: Callable[[], None]
    ) -> BoltResponse | None:
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
                    text=REFUSED, response_type="ephemeral", replace_original=False
                )
            elif kind == "event_callback":
                event = body.get("event") or {}
                if (
                    event.get("type") == "message"
                    and event.get("channel_type") == "im"
                    and not event.get("subtype")
                    and not event.get("bot_id")
                    and user
                ):
                    client.chat_postMessage(channel=event["channel"], text=REFUSED)
        except (SlackApiError, OSError):
            log.warning("could not send a refusal")
        return BoltResponse(status=200, body="")


class SkipTokenNotice(logging.Filter):
    """Bolt also reads SLACK_BOT_TOKEN itself and warns that the client's copy wins: it does."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def ack_then(
    pool: Executor, work: Callable[..., None], ack_with: Callable[..., None] | None = None
) -> Callable[..., None]:
    """A Bolt listener that acks within the request, then queues ``work`` on ``pool`` with the
    arguments it names (Bolt's lazy listeners would first deep-copy the whole request, on the
    ack's time)."""
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
        pool.submit(work, **{k: v for k, v in given.items() if k in wanted})

    return listener
