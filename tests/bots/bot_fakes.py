"""Fake Telegram Bot API and Slack Web API servers on 127.0.0.1, for the real client libraries.

Each fake is a threaded HTTP server on a free port that records every call and answers like
the platform does, enough for python-telegram-bot's Application (polling) and slack_sdk's
WebClient. Tests push updates into the Telegram fake and read back what the bots sent.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SALT = "test-salt-" + "0123456789abcdef" * 3
ALLOWED_TG = 4242  # Telegram user ids on the allowlist: ALLOWED_TG and 99
STRANGER_TG = 777
ALLOWED_TEAM = "T0ALLOWED"
ALLOWED_USER = "U0WORKER"  # Slack users on the allowlist: ALLOWED_USER and U0OTHER
TELEGRAM_TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "dvrules", "username": "dvrules_test_bot"}


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float


class _Server:
    """A threaded HTTP server on a free port whose requests go to ``self.handle``."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each reply waits ~40 ms for a delayed ACK

            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, payload = outer.dispatch(
                    self.path, self.headers.get("Content-Type", ""), body
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:  # as Slack: wait this long before trying again
                    self.send_header("Retry-After", "30")
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a cancelled long poll at shutdown)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.calls: list[Call] = []
        self.lock = threading.Condition()
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> _Server:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        raise NotImplementedError

    @staticmethod
    def parse(content_type: str, body: bytes) -> dict[str, Any]:
        if not body:
            return {}
        if content_type.startswith("application/json"):
            return json.loads(body)
        if content_type.startswith("multipart/form-data"):
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
            )
            return {
                part.get_param("name", header="content-disposition"):
                # a file: its name, type and bytes exactly as sent
                {
                    "filename": part.get_filename(),
                    "mime": part.get_content_type(),
                    "data": part.get_payload(decode=True),
                }
                if part.get_filename()
                else part.get_content().strip()
                for part in msg.iter_parts()
            }
        return {
            k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()
        }

    def record(self, method: str, params: dict[str, Any]) -> None:
        with self.lock:
            self.calls.append(Call(method, params, time.monotonic()))
            self.lock.notify_all()

    def mark(self) -> int:
        with self.lock:
            return len(self.calls)

    def since(self, mark: int, *methods: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls[mark:] if not methods or c.method in methods]

    def settle_sync(
        self, mark: int, need: tuple[str, ...], quiet: float = 0.15, timeout: float = 10.0
    ) -> list[Call]:
        """Wait until a call of a ``need`` method came after ``mark`` and nothing else for
        ``quiet`` seconds; return the calls since ``mark``."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                calls = self.calls[mark:]
                if (
                    any(c.method in need for c in calls)
                    and time.monotonic() - calls[-1].at >= quiet
                ):
                    return list(calls)
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no {need} call within {timeout} s; got {[c.method for c in calls]}"
                    )
                self.lock.wait(0.02)

    async def settle(
        self, mark: int, need: tuple[str, ...], quiet: float = 0.15, timeout: float = 10.0
    ) -> list[Call]:
        return await asyncio.to_thread(self.settle_sync, mark, need, quiet, timeout)


# ---------------------------------------------------------------------- Telegram


class FakeTelegram(_Server):
    """The Bot API methods python-telegram-bot needs, with a getUpdates long poll.

    It keeps every message of the chat (the bot's and the person's) so tests can see what a
    person would see: edits change a message in place, deletes remove it, and the errors the
    real API gives (editing to identical content, a message that is gone) come back as 400.
    """

    SENDS = ("sendMessage", "sendDocument")
    EDITS = ("editMessageText", "editMessageReplyMarkup")

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self.messages: dict[int, dict[str, Any]] = {}  # the bot's messages by id
        self.incoming: dict[int, dict[str, Any]] = {}  # the person's messages by id
        self.deleted: list[int] = []
        self.pushed: list[dict[str, Any]] = []  # every update pushed, in order
        self.webhook_secret: str | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        prefix = f"/bot{TELEGRAM_TOKEN}/"
        if not path.startswith(prefix):
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = path[len(prefix) :]
        params = self.parse(content_type, body)
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._get_updates(params)}
        self.record(method, params)
        with self.lock:
            result = self._answer(method, params)
        if isinstance(result, _Refusal):
            return 400, {"ok": False, "error_code": 400, "description": result.description}
        return 200, {"ok": True, "result": result}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), 2.0)
        deadline = time.monotonic() + wait
        with self.lock:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.lock.wait(deadline - time.monotonic())
            return list(self.updates)

    def _answer(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return BOT_USER
        if method == "sendMessage":
            message_id = next(self._message_ids)
            msg = {
                "message_id": message_id,
                "date": int(time.time()),
                "from": BOT_USER,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params["text"],
            }
            if params.get("reply_markup"):
                msg["reply_markup"] = json.loads(params["reply_markup"])
            self.messages[message_id] = msg
            return msg
        if method == "sendDocument":  # a file, uploaded as multipart form data
            file = params.get("document")
            if not isinstance(file, dict) or not file.get("data"):
                return _Refusal("Bad Request: there is no document in the request")
            message_id = next(self._message_ids)
            msg = {
                "message_id": message_id,
                "date": int(time.time()),
                "from": BOT_USER,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "document": {
                    "file_id": f"doc-{message_id}",
                    "file_unique_id": f"u{message_id}",
                    "file_name": file["filename"],
                    "file_size": len(file["data"]),
                },
            }
            self.messages[message_id] = msg
            return msg
        if method in self.EDITS:
            old = self.messages.get(int(params.get("message_id", 0)))
            if old is None:
                return _Refusal("Bad Request: message to edit not found")
            msg = dict(old)
            if "text" in params:
                msg["text"] = params["text"]
            if params.get("reply_markup"):
                msg["reply_markup"] = json.loads(params["reply_markup"])
            else:
                msg.pop("reply_markup", None)
            if msg == old:
                return _Refusal(
                    "Bad Request: message is not modified: specified new message "
                    "content and reply markup are exactly the same as a current "
                    "content and reply markup of the message"
                )
            self.messages[msg["message_id"]] = msg
            return msg
        if method == "deleteMessage":
            if not self._delete(int(params.get("message_id", 0))):
                return _Refusal("Bad Request: message to delete not found")
            return True
        if method == "deleteMessages":
            ids = params.get("message_ids") or []
            ids = json.loads(ids) if isinstance(ids, str) else ids
            if not 1 <= len(ids) <= 100:
                return _Refusal("Bad Request: too many message identifiers specified")
            for message_id in ids:
                self._delete(int(message_id))
            return True  # the real API also answers True when some were already gone
        return True  # deleteWebhook, setMyCommands, answerCallbackQuery, setWebhook, ...

    def _delete(self, message_id: int) -> bool:
        found = self.messages.pop(message_id, None) or self.incoming.pop(message_id, None)
        if found is not None:
            self.deleted.append(message_id)
        return found is not None

    # -------------------------------------------------------------- pushing updates

    def _push(self, update: dict[str, Any]) -> int:
        with self.lock:
            update["update_id"] = next(self._update_ids)
            self.pushed.append(update)
            message = update.get("message")
            if isinstance(message, dict) and "message_id" in message:
                self.incoming[message["message_id"]] = message
            self.updates.append(update)
            self.lock.notify_all()
        return update["update_id"]

    @staticmethod
    def user(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": "Worker"}

    def message_update(self, user_id: int, text: str, chat_type: str = "private") -> dict[str, Any]:
        chat = {"id": user_id if chat_type == "private" else -100200300, "type": chat_type}
        return {
            "message": {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": chat,
                "from": self.user(user_id),
                "text": text,
            }
        }

    def push_text(self, user_id: int, text: str, chat_type: str = "private") -> int:
        return self._push(self.message_update(user_id, text, chat_type))

    def button_update(
        self, user_id: int, data: str, message_id: int | None = None
    ) -> dict[str, Any]:
        if message_id is None:
            message_id = self.last_keyboard_message()["message_id"]
        message = self.messages[message_id]
        return {
            "callback_query": {
                "id": str(next(self._message_ids)),
                "from": self.user(user_id),
                "chat_instance": "ci-1",
                "data": data,
                "message": message,
            }
        }

    def push_button(self, user_id: int, data: str, message_id: int | None = None) -> int:
        return self._push(self.button_update(user_id, data, message_id))

    def last_keyboard_message(self) -> dict[str, Any]:
        with self.lock:
            for msg in reversed(list(self.messages.values())):
                if msg.get("reply_markup"):
                    return msg
        raise AssertionError("the bot has sent no message with buttons")

    def chat(self) -> list[dict[str, Any]]:
        """What the person sees now: every message still there, oldest first."""
        with self.lock:
            both = {**self.incoming, **self.messages}
            return [both[k] for k in sorted(both)]

    def pending(self) -> int:
        with self.lock:
            return len(self.updates)


@dataclass
class _Refusal:
    description: str


def keyboard_buttons(message: dict[str, Any]) -> list[dict[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [bt for row in rows for bt in row]


def count_methods(calls: list[Call]) -> dict[str, int]:
    """How many calls of each Bot API method (new messages vs edits vs deletes)."""
    counts: dict[str, int] = {}
    for c in calls:
        counts[c.method] = counts.get(c.method, 0) + 1
    return counts


# ---------------------------------------------------------------------- Slack

SLACK_SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
SLACK_BOT_TOKEN = "xoxb-test-token"


class FakeSlack(_Server):
    """The Slack Web API methods the bot uses, plus response URLs."""

    def __init__(self, team: str = "T0ALLOWED") -> None:
        super().__init__()
        self.team = team
        self.socket_url: str | None = None
        self._ts = itertools.count(1)
        self.messages: dict[str, dict[str, Any]] = {}  # by ts
        self.home: dict[str, dict[str, Any]] = {}  # the App Home view published for each user
        self.uploads: dict[str, dict[str, Any]] = {}  # files by id: name, bytes, channel
        self.refuse: set[str] = set()  # methods refused as rate-limited (429, Retry-After)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def dispatch(self, path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        if path.startswith("/upload/"):  # the upload URL files.getUploadURLExternal gave
            file_id = path[len("/upload/") :]
            self.record("upload", {"file_id": file_id, "length": len(body)})
            with self.lock:
                if file_id not in self.uploads or len(body) != self.uploads[file_id]["length"]:
                    return 400, {"ok": False}
                self.uploads[file_id]["data"] = body
            return 200, {"ok": True}
        params = self.parse(content_type, body)
        if path.startswith("/response/"):
            self.record("response_url", params)
            return 200, {"ok": True}
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "not_found"}
        method = path[len("/api/") :].split("?")[0]
        self.record(method, params)
        if method in self.refuse:
            return 429, {"ok": False, "error": "ratelimited"}
        if method == "apps.connections.open" and self.socket_url:
            return 200, {"ok": True, "url": self.socket_url}
        if method == "auth.test":
            return 200, {
                "ok": True,
                "url": "https://example.invalid/",
                "team": "Team",
                "user": "dvrules",
                "team_id": self.team,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "is_enterprise_install": False,
            }
        if method in ("chat.postMessage", "chat.update"):
            with self.lock:
                if method == "chat.update" and params.get("ts") not in self.messages:
                    return 200, {"ok": False, "error": "message_not_found"}
                channel = str(params.get("channel") or "")
                if channel.startswith(("U", "W")):  # a user id: the app's direct message
                    channel = "D" + channel[1:]
                ts = params.get("ts") or f"1700000000.{next(self._ts):06d}"
                blocks = params.get("blocks")
                if isinstance(blocks, str):
                    blocks = json.loads(blocks)
                msg = {
                    "ts": ts,
                    "channel": channel,
                    "blocks": blocks or [],
                    "text": params.get("text"),
                }
                self.messages.pop(ts, None)  # the most recently sent or edited comes last
                self.messages[ts] = msg
            return 200, {"ok": True, "channel": channel, "ts": ts, "message": msg}
        if method == "conversations.history":  # newest first, up to ``latest``
            latest, inclusive = str(params.get("latest") or "9" * 20), params.get("inclusive")
            with self.lock:
                found = sorted(
                    (
                        {"type": "message", **m}
                        for m in self.messages.values()
                        if m["channel"] == params.get("channel")
                        and (
                            float(m["ts"]) <= float(latest)
                            if inclusive in (True, "true", "1")
                            else float(m["ts"]) < float(latest)
                        )
                    ),
                    key=lambda m: float(m["ts"]),
                    reverse=True,
                )[: int(params.get("limit") or 100)]
            if not str(params.get("channel") or "").startswith("D"):
                return 200, {"ok": False, "error": "channel_not_found"}
            return 200, {"ok": True, "messages": found, "has_more": False}
        if method == "chat.delete":
            with self.lock:
                gone = self.messages.pop(str(params.get("ts")), None)
            return 200, ({"ok": True} if gone else {"ok": False, "error": "message_not_found"})
        if method == "files.getUploadURLExternal":
            with self.lock:
                file_id = f"F{next(self._ts):08d}"
                self.uploads[file_id] = {
                    "name": params.get("filename"),
                    "length": int(params.get("length") or -1),
                }
            return 200, {
                "ok": True,
                "file_id": file_id,
                "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
            }
        if method == "files.completeUploadExternal":
            files = params.get("files")
            files = json.loads(files) if isinstance(files, str) else files
            with self.lock:
                done = [f for f in files or [] if "data" in self.uploads.get(f.get("id"), {})]
                if not done or len(done) != len(files) or not params.get("channel_id"):
                    return 200, {"ok": False, "error": "invalid_arguments"}
                for f in done:
                    self.uploads[f["id"]].update(channel=params["channel_id"], title=f.get("title"))
            return 200, {
                "ok": True,
                "files": [{"id": f["id"], "title": f.get("title")} for f in done],
            }
        if method == "files.delete":
            with self.lock:
                gone = self.uploads.pop(str(params.get("file")), None)
            return 200, ({"ok": True} if gone else {"ok": False, "error": "file_not_found"})
        if method == "views.publish":
            view = params.get("view")
            self.home[str(params.get("user_id"))] = (
                json.loads(view) if isinstance(view, str) else view
            )
            return 200, {"ok": True, "view": {"id": "V0HOME"}}
        return 200, {"ok": True}

    def posted(self, mark: int = 0) -> list[dict[str, Any]]:
        return [c.params for c in self.since(mark, "chat.postMessage")]

    def last_with_buttons(self) -> dict[str, Any]:
        with self.lock:
            for msg in reversed(list(self.messages.values())):
                if any(b.get("type") == "actions" for b in msg["blocks"]):
                    return msg
        raise AssertionError("the bot has posted no message with buttons")


def slack_buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        el
        for bl in message.get("blocks") or []
        if bl.get("type") == "actions"
        for el in bl["elements"]
    ]


def slack_sign(
    body: bytes, secret: str = SLACK_SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    sig = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


def http_post(
    url: str, body: bytes, headers: dict[str, str], timeout: float = 10
) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class SlackRequests:
    """Builds signed Slack requests (slash command, button click, DM event) and posts them."""

    def __init__(self, url: str, fake: FakeSlack, team: str = "T0ALLOWED", first: int = 1):
        self.url, self.fake, self.team = url, fake, team
        self._n = itertools.count(first)  # trigger and event ids: another ``first`` per worker

    def post(
        self,
        body: bytes,
        content_type: str,
        *,
        sign: bool = True,
        secret: str = SLACK_SIGNING_SECRET,
        timestamp: int | None = None,
        extra: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type}
        if sign:
            headers.update(slack_sign(body, secret, timestamp))
        headers.update(extra or {})
        return http_post(self.url, body, headers)

    def command_body(
        self, user: str, text: str = "", channel: str = "D0DM", team: str | None = None
    ) -> bytes:
        return urllib.parse.urlencode(
            {
                "token": "legacy",
                "team_id": team or self.team,
                "team_domain": "example",
                "channel_id": channel,
                "channel_name": "directmessage",
                "user_id": user,
                "user_name": "worker",
                "command": "/dvrules",
                "text": text,
                "api_app_id": "A0APP",
                "response_url": self.fake.response_url(),
                "trigger_id": f"trig-{next(self._n)}",
            }
        ).encode()

    def command(self, user: str, text: str = "", **kw: Any) -> tuple[int, bytes]:
        return self.post(self.command_body(user, text, **kw), "application/x-www-form-urlencoded")

    def action_body(
        self,
        user: str,
        value: str,
        message: dict[str, Any] | None = None,
        team: str | None = None,
        action_id: str = "dv-0",
    ) -> bytes:
        message = message or self.fake.last_with_buttons()
        team = team or self.team
        payload = {
            "type": "block_actions",
            "team": {"id": team, "domain": "example"},
            "user": {"id": user, "username": "worker", "team_id": team},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trig-{next(self._n)}",
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": message["channel"],
                "is_ephemeral": False,
            },
            "channel": {"id": message["channel"], "name": "directmessage"},
            "message": {
                "type": "message",
                "ts": message["ts"],
                "blocks": message["blocks"],
                "text": message.get("text"),
            },
            "response_url": self.fake.response_url(),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "action_ts": str(time.time()),
                    "text": {"type": "plain_text", "text": "x"},
                }
            ],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def action(self, user: str, value: str, **kw: Any) -> tuple[int, bytes]:
        return self.post(self.action_body(user, value, **kw), "application/x-www-form-urlencoded")

    def home_action_body(
        self, user: str, action_id: str, value: str | None = None, team: str | None = None
    ) -> bytes:
        """A button pressed in the App Home tab (no message, no channel)."""
        team = team or self.team
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": "h1",
            "action_ts": f"{time.time():.6f}",
            "text": {"type": "plain_text", "text": "x"},
        }
        if value is not None:
            action["value"] = value
        payload = {
            "type": "block_actions",
            "team": {"id": team, "domain": "example"},
            "user": {"id": user, "username": "worker", "team_id": team},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trig-{next(self._n)}",
            "container": {"type": "view", "view_id": "V0HOME"},
            "view": {"id": "V0HOME", "type": "home", "blocks": []},
            "actions": [action],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def form_body(self, user: str, view: dict[str, Any], picked: list[str]) -> bytes:
        """A modal ``view`` (as the bot opened it) submitted with the options ``picked``."""
        element = view["blocks"][0]["element"]
        options = [o for o in element["options"] if o["value"] in picked]
        submitted = {
            **view,
            "id": "V0FORM",
            "team_id": self.team,
            "state": {
                "values": {
                    "choices": {"choices": {"type": element["type"], "selected_options": options}}
                }
            },
        }
        payload = {
            "type": "view_submission",
            "team": {"id": self.team, "domain": "example"},
            "user": {"id": user, "username": "worker", "team_id": self.team},
            "api_app_id": "A0APP",
            "token": "legacy",
            "trigger_id": f"trig-{next(self._n)}",
            "view": submitted,
            "response_urls": [],
        }
        return urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()

    def home_opened_body(self, user: str) -> bytes:
        return json.dumps(
            {
                "token": "legacy",
                "team_id": self.team,
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": f"Ev{next(self._n):08d}",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_home_opened",
                    "user": user,
                    "channel": "D0DM",
                    "tab": "home",
                },
                "authorizations": [{"team_id": self.team, "user_id": "UBOT", "is_bot": True}],
            }
        ).encode()

    def event_body(
        self,
        user: str,
        text: str,
        channel: str = "D0DM",
        team: str | None = None,
        event_id: str | None = None,
    ) -> bytes:
        team = team or self.team
        return json.dumps(
            {
                "token": "legacy",
                "team_id": team,
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": event_id or f"Ev{next(self._n):08d}",
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel": channel,
                    "channel_type": "im",
                    "user": user,
                    "text": text,
                    "ts": f"{time.time():.6f}",
                    "team": team,
                },
                "authorizations": [{"team_id": team, "user_id": "UBOT", "is_bot": True}],
            }
        ).encode()

    def event(
        self, user: str, text: str, *, extra: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, bytes]:
        return self.post(self.event_body(user, text, **kw), "application/json", extra=extra)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeSocketMode:
    """A Socket Mode WebSocket endpoint (aiohttp, its own thread): says hello, sends envelopes,
    records the acknowledgements. Pair it with a FakeSlack whose apps.connections.open points
    here (``FakeSlack.socket_url``)."""

    def __init__(self) -> None:
        import aiohttp.web

        self.acks: list[dict[str, Any]] = []
        self.connected = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ws: Any = None
        app = aiohttp.web.Application()
        app.router.add_get("/link", self._link)
        self._runner = aiohttp.web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = aiohttp.web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    async def _link(self, request: Any) -> Any:
        import aiohttp
        import aiohttp.web

        ws = aiohttp.web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_str(
            json.dumps(
                {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0APP"}}
            )
        )
        self.connected.set()
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    self.acks.append(json.loads(msg.data))
                except ValueError:
                    pass
        return ws

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._ws is not None
        asyncio.run_coroutine_threadsafe(
            self._ws.send_str(json.dumps(envelope)), self._loop
        ).result(5)

    def stop(self) -> None:
        async def close() -> None:
            if self._ws is not None:
                await self._ws.close()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
