"""Scale: the deployed web processes under 200 concurrent conversations on loopback.

    python -m benchmarks.scale            # full run (a few minutes) -> results/scale.md, .json
    python -m benchmarks.scale --quick    # smoke run (well under a minute), nothing written

Each setup runs the real process a deployment runs, on 127.0.0.1, against a fake platform API
in this process, with its session store:

- Slack: the Procfile's ``web`` command (gunicorn with the Bolt app) with 2 workers and a Redis
  store, and with 1 worker and the TinyDB store (the one-process deployment), side by side;
- Telegram: ``python -m bots.telegram`` in webhook mode (``bots/telegram_server.py``), with
  the fake Bot API of the bot tests (``tests/bots/bot_fakes.FakeTelegram``), on each store.

Redis is a ``redis-server`` this script starts on a free port (no persistence), reached through
``DVRULES_STORE=redis://...``; a setup whose store is not available (no ``redis-server``, or a
checkout whose bots do not read ``DVRULES_STORE`` yet) is reported as skipped with the reason.
After each run the store is checked to hold the sessions, so a setup never passes for another.

Every simulated person runs one conversation, all at once: the start (a slash command, or
``/start``), a flow's button (the flows in turn), then "skip" to each question, a fixed number
of turns each within a time limit. A *turn* counts when the request was acked (HTTP 200) AND
the bot's reply reached the fake API (a new message or the card edited). *ack* is the time to
the HTTP response, *reply* the time to that first reply call; *turns/s* is completed turns over
the run's wall time. The setups take turns round after round (each round a fresh process and an
empty store), so other load on the machine weighs on all alike; figures are medians over the
rounds with the lowest and highest in brackets. The load generator and fake APIs are one asyncio
loop in this process, on the same cores as the bots: their CPU is reported beside the bots'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks.common import Figure, Section, latency_stats

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SECRET = "bench-signing-secret-0123456789abcdef"
SALT = "bench-salt-" + "0123456789abcdef" * 3
TEAM = "T0BENCH"
WEBHOOK_PATH = "/telegram/bench-hook"
# The Telegram bot with python-telegram-bot's rate limiter holding no overall rate (it keeps
# a deployed bot under Telegram's ~30 messages a second, which is then all a run measures).
UNLIMITED = (
    "import functools, bots.telegram as t; "
    "t.AIORateLimiter = functools.partial(t.AIORateLimiter, overall_max_rate=0); t.main()"
)
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
SESSION_KEYS = "dvrules:s:*"  # the Redis store's session keys (``dvrules.store_redis``)
REPLY_TIMEOUT = 30.0  # s a turn may wait for its reply before it counts as an error
QUIET = 0.02  # s without a further reply call before the person sends the next turn


@dataclass(frozen=True)
class Setup:
    """One deployment shape: which bot, how many web workers, which store."""

    key: str
    bot: str  # "slack" | "telegram"
    workers: int
    store: str  # "redis" | "tinydb"
    platform_limit: bool = True  # Telegram: with the bot's limiter of Telegram's rate (deployed)

    @property
    def title(self) -> str:
        bot = "Slack (Procfile web)" if self.bot == "slack" else "Telegram webhook"
        unit = "worker" if self.bot == "slack" else "process"
        many = unit if self.workers == 1 else unit + ("s" if unit == "worker" else "es")
        store = "Redis" if self.store == "redis" else "TinyDB"
        limit = "" if self.platform_limit else ", no rate limiter"
        return f"{bot}, {self.workers} {many}, {store}{limit}"


SETUPS = (
    Setup("slack-2-redis", "slack", 2, "redis"),
    Setup("slack-1-tinydb", "slack", 1, "tinydb"),
    Setup("slack-2-tinydb", "slack", 2, "tinydb"),
    Setup("telegram-2-redis", "telegram", 2, "redis", platform_limit=False),
    Setup("telegram-1-tinydb", "telegram", 1, "tinydb", platform_limit=False),
    Setup("telegram-1-tinydb-limited", "telegram", 1, "tinydb"),
)
# As deployed, the Telegram bot keeps under Telegram's overall rate (~30 Bot API calls with a
# chat a second): a fixed ceiling, measured in one short round.
LIMITED_ROUNDS, LIMITED_SECONDS = 1, 30.0


@dataclass
class Load:
    """How hard and how long: conversations at once, turns each, rounds, a time limit."""

    conversations: int = 200
    turns: int = 8
    rounds: int = 3
    limit_s: float = 60.0  # per run, after which no conversation starts another turn
    keep_alive: bool = False  # Slack does not promise to reuse connections: default, it does not
    api_latency_s: float = 0.0  # how long the fake platform APIs take to answer each call

    @classmethod
    def quick(cls) -> Load:
        return cls(conversations=20, turns=3, rounds=1, limit_s=15.0)


# ---------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by every live process of a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fields = _stat(pid)
        if fields and int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def group_size(pgid: int) -> int:
    return sum(
        1
        for pid in filter(str.isdigit, os.listdir("/proc"))
        if (fields := _stat(pid)) and int(fields[2]) == pgid
    )


def stop(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM our own child's process group; SIGKILL it if it has not gone in 20 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class RedisServer:
    """A throwaway ``redis-server`` on a free loopback port, without persistence."""

    def __init__(self, directory: str):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while self.cli("PING") != "PONG":
            if time.monotonic() > deadline or self.proc.poll() is not None:
                stop(self.proc)
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.05)

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            ["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip()

    def keys(self, pattern: str = "*") -> int:
        """How many keys match ``pattern`` (database 0)."""
        return len(self.cli("--scan", "--pattern", pattern).split())

    def cpu(self) -> float:
        return group_cpu(self.proc.pid)

    def close(self) -> None:
        stop(self.proc)


def redis_unavailable() -> str | None:
    """Why a Redis setup cannot run in this checkout, or None."""
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server is not installed"
    config = ROOT / "bots" / "config.py"
    if "DVRULES_STORE" not in config.read_text(encoding="utf-8"):
        return "the bots do not read DVRULES_STORE in this checkout (no Redis store yet)"
    return None


def web_command(port: int, workers: int, line: str | None = None) -> list[str]:
    """The Procfile's web line (or ``line``) bound to loopback, with ``workers`` workers."""
    if line is None:
        for raw in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
            if raw.startswith("web:"):
                line = raw[4:].strip()
                break
    if line is None:
        raise RuntimeError("the Procfile has no web line")
    line = re.sub(r"(--workers|-w)(=|\s+)\S+", f"--workers {workers}", line)
    line = line.replace("$PORT", str(port)).replace("${PORT}", str(port))
    line = line.replace("0.0.0.0", "127.0.0.1")
    args = shlex.split(line)
    if args[0] == "gunicorn":
        args = [sys.executable, "-m", "gunicorn", *args[1:]]
    return args


def store_env(setup: Setup, tmp: str, redis: RedisServer | None) -> dict[str, str]:
    store = os.path.join(tmp, "sessions")
    env = {"DVRULES_DB": store, "DVRULES_STORE": store}
    if setup.store == "redis":
        assert redis is not None
        env["DVRULES_STORE"] = redis.url
    return env


def start(
    cmd: list[str], env: dict[str, str], health: str, processes: int
) -> subprocess.Popen[str]:
    """Start a server in its own process group; wait for ``GET health`` and its processes.
    Its output goes to a file in its ``HOME`` (a pipe nobody reads could fill and stall it)."""
    log = Path(env["HOME"]) / f"server-{env.get('PORT', 'x')}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()[-800:]}")
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:
                if resp.status == 200 and group_size(proc.pid) >= processes:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError("the server did not answer its health check within 60 s")
        time.sleep(0.1)


# ---------------------------------------------------------------------- replies


class Replies:
    """Reply calls the bots made to a fake API, per conversation, awaited by the load loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.posts: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.waiting: dict[str, asyncio.Future[None]] = {}

    def add(self, where: str, message: dict[str, Any], at: float | None = None) -> None:
        """In the loop's thread: record one reply call."""
        self.posts.setdefault(where, []).append((at or time.perf_counter(), message))
        fut = self.waiting.pop(where, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def add_threadsafe(self, where: str, message: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self.add, where, message, time.perf_counter())

    def count(self, where: str) -> int:
        return len(self.posts.get(where, ()))

    async def wait(
        self, where: str, mark: int, timeout: float
    ) -> tuple[float, dict[str, Any]] | None:
        """The reply call number ``mark`` (counting from 0), once it has come."""
        deadline = self.loop.time() + timeout
        while self.count(where) <= mark:
            left = deadline - self.loop.time()
            if left <= 0:
                return None
            fut = self.waiting[where] = self.loop.create_future()
            try:
                await asyncio.wait_for(fut, left)
            except asyncio.TimeoutError:
                return None
        return self.posts[where][mark]

    async def settled(self, where: str) -> None:
        """Let the rest of a turn's calls arrive (a finishing turn posts several)."""
        while await self.wait(where, self.count(where), QUIET) is not None:
            pass


@dataclass
class Tally:
    """One run's measurements."""

    ack: list[float] = field(default_factory=list)
    reply: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.errors.append(why)


# ---------------------------------------------------------------------- Slack


async def fake_slack(replies: Replies, latency_s: float = 0.0) -> tuple[web.AppRunner, int]:
    """The Web API calls the Slack bot makes, answered like Slack (after ``latency_s``, as
    over the internet); replies recorded."""
    stamps = itertools.count(1)

    async def handle(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.read()
        if latency_s:
            await asyncio.sleep(latency_s)
        if "json" in request.content_type:
            p = json.loads(raw or b"{}")
        else:
            p = {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "team_id": TEAM, "user_id": "UBOT", "bot_id": "BBOT", "team": "b"}
            )
        if method in ("chat.postMessage", "chat.update"):
            blocks = p.get("blocks")
            blocks = json.loads(blocks) if isinstance(blocks, str) else (blocks or [])
            msg = {
                "ts": p.get("ts") or f"1700000000.{next(stamps):06d}",
                "channel": p.get("channel"),
                "blocks": blocks,
                "text": p.get("text"),
            }
            replies.add(str(p.get("channel")), msg)
            return web.json_response(
                {"ok": True, "channel": msg["channel"], "ts": msg["ts"], "message": msg}
            )
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/api/{method}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


def slack_signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + mac.hexdigest()}


def slack_request(
    n: int, turn: int, flow: str, menu: dict[str, Any] | None
) -> tuple[bytes, str] | str:
    """Turn ``turn`` of person ``n`` as Slack sends it (body, content type), or what is wrong."""
    user, channel = f"U{n:07d}", f"D{n:07d}"
    if turn == 0:
        form = {
            "token": "x",
            "team_id": TEAM,
            "team_domain": "bench",
            "channel_id": channel,
            "channel_name": "directmessage",
            "user_id": user,
            "user_name": "w",
            "command": os.environ.get("DVRULES_SLACK_COMMAND", "/dvrules"),
            "text": "start",
            "api_app_id": "A0APP",
            "trigger_id": f"t{n}-{turn}",
            "response_url": "http://127.0.0.1:9/none",
        }
        return urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    if turn == 1:
        assert menu is not None
        buttons = [
            el
            for block in menu.get("blocks", [])
            if block.get("type") == "actions"
            for el in block.get("elements", [])
        ]
        chosen = next((b for b in buttons if b.get("value") == f"f|{flow}"), None)
        if chosen is None:
            return f"no button for flow {flow} in the start menu"
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM, "domain": "bench"},
            "user": {"id": user, "username": "w", "team_id": TEAM},
            "api_app_id": "A0APP",
            "token": "x",
            "trigger_id": f"t{n}-{turn}",
            "container": {"type": "message", "message_ts": menu["ts"], "channel_id": channel},
            "channel": {"id": channel, "name": "directmessage"},
            "message": {"type": "message", "ts": menu["ts"], "blocks": menu["blocks"]},
            "response_url": "http://127.0.0.1:9/none",
            "actions": [
                {
                    "type": "button",
                    "action_id": chosen.get("action_id"),
                    "block_id": "b",
                    "value": chosen["value"],
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return body, "application/x-www-form-urlencoded"
    event = {
        "token": "x",
        "team_id": TEAM,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": f"Ev{n:05d}{turn:05d}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel": channel,
            "channel_type": "im",
            "user": user,
            "text": "skip",
            "ts": f"{time.time():.6f}",
            "team": TEAM,
        },
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT", "is_bot": True}],
    }
    return json.dumps(event).encode(), "application/json"


async def slack_person(
    http: aiohttp.ClientSession,
    urls: list[str],
    replies: Replies,
    n: int,
    flow: str,
    load: Load,
    deadline: float,
    tally: Tally,
) -> None:
    channel, menu = f"D{n:07d}", None
    for turn in range(load.turns):
        if time.monotonic() > deadline:
            return
        made = slack_request(n, turn, flow, menu)
        if isinstance(made, str):
            return tally.fail(made)
        body, kind = made
        mark = replies.count(channel)
        t0 = time.perf_counter()
        try:
            async with http.post(
                urls[0], data=body, headers={"Content-Type": kind, **slack_signed(body)}
            ) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            return tally.fail(type(err).__name__)
        acked = time.perf_counter()
        if status != 200:
            return tally.fail(f"HTTP {status}")
        got = await replies.wait(channel, mark, REPLY_TIMEOUT)
        if got is None:
            return tally.fail(f"no reply within {REPLY_TIMEOUT:.0f} s")
        tally.ack.append(acked - t0)
        tally.reply.append(got[0] - t0)
        menu = menu or got[1]  # the start menu, whose button the next turn presses
        await replies.settled(channel)


# ---------------------------------------------------------------------- Telegram


def telegram_fake(replies: Replies) -> Any:
    """The bot tests' fake Bot API, telling ``replies`` of each message sent or edited."""
    sys.path.insert(0, str(ROOT))
    from tests.bots.bot_fakes import FakeTelegram

    class Fake(FakeTelegram):  # type: ignore[misc]
        def _answer(self, method: str, params: dict[str, Any]) -> Any:
            result = super()._answer(method, params)
            if method in ("sendMessage", "editMessageText") and isinstance(result, dict):
                replies.add_threadsafe(str(params.get("chat_id")), result)
            return result

        def record(self, method: str, params: dict[str, Any]) -> None:
            return None  # the tests keep every call; thousands of turns need not

    return Fake().start()


def telegram_update(n: int, turn: int, flow: str, menu: dict[str, Any] | None) -> dict[str, Any]:
    uid = 1000 + n
    person = {"id": uid, "is_bot": False, "first_name": "Worker"}
    chat = {"id": uid, "type": "private"}
    update_id = n * 1000 + turn + 1
    if turn == 1:
        assert menu is not None
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"cq{n}-{turn}",
                "from": person,
                "chat_instance": str(uid),
                "data": f"f|{flow}",
                "message": {
                    "message_id": menu["message_id"],
                    "date": int(time.time()),
                    "chat": chat,
                    "text": "menu",
                },
            },
        }
    return {
        "update_id": update_id,
        "message": {
            "message_id": 10_000_000 + update_id,
            "date": int(time.time()),
            "from": person,
            "chat": chat,
            "text": "/start" if turn == 0 else "skip",
        },
    }


async def telegram_person(
    http: aiohttp.ClientSession,
    urls: list[str],
    replies: Replies,
    n: int,
    flow: str,
    load: Load,
    deadline: float,
    tally: Tally,
) -> None:
    chat, menu = str(1000 + n), None
    for turn in range(load.turns):
        if time.monotonic() > deadline:
            return
        body = json.dumps(telegram_update(n, turn, flow, menu)).encode()
        mark = replies.count(chat)
        t0 = time.perf_counter()
        headers = {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
        }
        try:
            # several processes: each update to any of them, as a platform's router does
            url = urls[(n + turn) % len(urls)]
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                status = resp.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            return tally.fail(type(err).__name__)
        acked = time.perf_counter()
        if status != 200:
            return tally.fail(f"HTTP {status}")
        got = await replies.wait(chat, mark, REPLY_TIMEOUT)
        if got is None:
            return tally.fail(f"no reply within {REPLY_TIMEOUT:.0f} s")
        tally.ack.append(acked - t0)
        tally.reply.append(got[0] - t0)
        menu = menu or got[1]
        await replies.settled(chat)


# ---------------------------------------------------------------------- one run

Person = Callable[
    [aiohttp.ClientSession, list[str], Replies, int, str, Load, float, Tally], Awaitable[None]
]


async def drive(
    person: Person,
    urls: list[str],
    replies: Replies,
    load: Load,
    flows: list[str],
    first: int = 0,
) -> tuple[Tally, float]:
    """``load.conversations`` people at once (numbered from ``first``); the wall time."""
    connector = aiohttp.TCPConnector(limit=0, force_close=not load.keep_alive)
    timeout = aiohttp.ClientTimeout(total=REPLY_TIMEOUT)
    tally = Tally()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        deadline = time.monotonic() + load.limit_s
        t0 = time.perf_counter()
        await asyncio.gather(
            *(
                person(http, urls, replies, n, flows[n % len(flows)], load, deadline, tally)
                for n in range(first, first + load.conversations)
            )
        )
        return tally, time.perf_counter() - t0


WARM_UP = Load(conversations=8, turns=3, rounds=1, limit_s=20.0)
WARM_FIRST = 91_000  # the warm-up's people, apart from the measured ones


async def run_slack(
    setup: Setup,
    load: Load,
    flows: list[str],
    tmp: str,
    redis: RedisServer | None,
    line: str | None,
) -> dict[str, Any]:
    replies = Replies(asyncio.get_running_loop())
    runner, api_port = await fake_slack(replies, load.api_latency_s)
    port = free_port()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SECRET,
        "DVRULES_SLACK_ALLOWED_TEAMS": TEAM,
        "DVRULES_SLACK_API_URL": f"http://127.0.0.1:{api_port}/api/",
        "DVRULES_ID_SALT": SALT,
        "DVRULES_LOG_LEVEL": "WARNING",
        "PORT": str(port),
        "HOME": tmp,
        "WEB_CONCURRENCY": str(setup.workers),
        **store_env(setup, tmp, redis),
    }
    cmd = web_command(port, setup.workers, line)
    try:
        proc = await asyncio.to_thread(
            start, cmd, env, f"http://127.0.0.1:{port}/healthz", 1 + setup.workers
        )
        try:
            return await measure(
                [proc],
                redis,
                slack_person,
                [f"http://127.0.0.1:{port}/slack/events"],
                replies,
                load,
                flows,
            ) | {"server": " ".join(cmd[2:])}
        finally:
            await asyncio.to_thread(stop, proc)
    finally:
        await runner.cleanup()


async def run_telegram(
    setup: Setup, load: Load, flows: list[str], tmp: str, redis: RedisServer | None
) -> dict[str, Any]:
    from tests.bots.bot_fakes import TELEGRAM_TOKEN

    replies = Replies(asyncio.get_running_loop())
    fake = telegram_fake(replies)
    people = [*range(load.conversations), *range(WARM_FIRST, WARM_FIRST + WARM_UP.conversations)]
    users = [1000 + n for n in people]
    env = {
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "DVRULES_TELEGRAM_ALLOWED_USERS": ",".join(map(str, users)),
        "DVRULES_TELEGRAM_BASE_URL": fake.base_url,
        "DVRULES_TELEGRAM_WEBHOOK_URL": "https://bench.invalid" + WEBHOOK_PATH,
        "DVRULES_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DVRULES_ID_SALT": SALT,
        "DVRULES_LOG_LEVEL": "WARNING",
        "HOME": tmp,
        **store_env(setup, tmp, redis),
    }
    cmd = [sys.executable, "-m", "bots.telegram"]
    if not setup.platform_limit:  # the bot's own capacity: python-telegram-bot's limiter off
        cmd[1:] = ["-c", UNLIMITED]
    ports = [free_port() for _ in range(setup.workers)]  # one process each, as on a platform
    procs: list[subprocess.Popen[str]] = []
    try:
        for port in ports:
            health = f"http://127.0.0.1:{port}/healthz"
            procs.append(await asyncio.to_thread(start, cmd, env | {"PORT": str(port)}, health, 1))
        urls = [f"http://127.0.0.1:{port}{WEBHOOK_PATH}" for port in ports]
        return await measure(procs, redis, telegram_person, urls, replies, load, flows) | {
            "server": f"python -m bots.telegram (webhook), {setup.workers} process(es)"
        }
    finally:
        for proc in procs:
            await asyncio.to_thread(stop, proc)
        fake.stop()


async def measure(
    procs: list[subprocess.Popen[str]],
    redis: RedisServer | None,
    person: Person,
    urls: list[str],
    replies: Replies,
    load: Load,
    flows: list[str],
) -> dict[str, Any]:
    warm, _ = await drive(person, urls, replies, WARM_UP, flows, WARM_FIRST)  # every worker
    cpu0, own0 = sum(group_cpu(p.pid) for p in procs), time.process_time()
    redis0 = redis.cpu() if redis else 0.0
    tally, wall = await drive(person, urls, replies, load, flows)
    warm_errors = warm.errors
    n = len(tally.reply)
    bot_cpu = sum(group_cpu(p.pid) for p in procs) - cpu0
    return {
        "turns": n,
        "wall_s": wall,
        "ack_p50_ms": latency_stats(tally.ack)["p50_ms"] if n else float("nan"),
        "ack_p99_ms": latency_stats(tally.ack)["p99_ms"] if n else float("nan"),
        "reply_p50_ms": latency_stats(tally.reply)["p50_ms"] if n else float("nan"),
        "reply_p99_ms": latency_stats(tally.reply)["p99_ms"] if n else float("nan"),
        "turns_per_s": n / wall if wall else float("nan"),
        "bot_cpu_ms_per_turn": bot_cpu / n * 1000 if n else float("nan"),
        "redis_cpu_ms_per_turn": ((redis.cpu() - redis0) / n * 1000) if redis and n else None,
        "load_cpu_ms_per_turn": (time.process_time() - own0) / n * 1000 if n else float("nan"),
        "errors": len(tally.errors) + len(warm_errors),
        "error_kinds": sorted(set(tally.errors + warm_errors))[:5],
    }


def one_run(setup: Setup, load: Load, flows: list[str], line: str | None) -> dict[str, Any]:
    """One fresh server and an empty store; the store checked to hold the sessions after."""
    with tempfile.TemporaryDirectory(prefix="dvrules-bench-scale-") as tmp:
        redis = RedisServer(tmp) if setup.store == "redis" else None
        try:
            load_avg = os.getloadavg()[0]
            if setup.bot == "slack":
                result = asyncio.run(run_slack(setup, load, flows, tmp, redis, line))
            else:
                result = asyncio.run(run_telegram(setup, load, flows, tmp, redis))
            if redis is not None:
                stored = redis.keys(SESSION_KEYS)
            else:
                stored = sum(1 for p in Path(tmp, "sessions").glob("*.json"))
            if result["turns"] and stored == 0:
                raise RuntimeError(f"{setup.title}: no session reached the {setup.store} store")
            return result | {
                "stored": stored,
                "load_before": load_avg,
                "load_after": os.getloadavg()[0],
            }
        finally:
            if redis is not None:
                redis.close()


# ---------------------------------------------------------------------- the benchmark

KEYS = (
    "ack_p50_ms",
    "ack_p99_ms",
    "reply_p50_ms",
    "reply_p99_ms",
    "turns_per_s",
    "bot_cpu_ms_per_turn",
    "load_cpu_ms_per_turn",
)


def _stop_on_sigterm() -> None:
    """SIGTERM (a CI timeout, ``kill``) unwinds like Ctrl-C, so the servers started here (each
    in its own process group) are stopped by the ``finally`` blocks, not left running."""

    def unwind(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, unwind)


def measure_all(
    load: Load,
    only: list[str] | None = None,
    line: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every setup, round after round; the setups that cannot run here say why."""
    _stop_on_sigterm()
    from dvrules import default_rules

    flows = list(default_rules().kb.flows)
    setups = [s for s in SETUPS if not only or s.key in only]
    skipped = {}
    why_not_redis = redis_unavailable()
    if why_not_redis:
        skipped = {s.key: why_not_redis for s in setups if s.store == "redis"}
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in setups if s.key not in skipped}
    failed: dict[str, str] = {}
    for r in range(load.rounds):
        for setup in setups:
            if setup.key in skipped or setup.key in failed:
                continue
            this = load
            if setup.bot == "telegram" and setup.platform_limit:
                if r >= LIMITED_ROUNDS:
                    continue
                this = Load(**{**load.__dict__, "limit_s": min(load.limit_s, LIMITED_SECONDS)})
            t0 = time.perf_counter()
            try:
                result = one_run(setup, this, flows, line)
            except Exception as exc:  # noqa: BLE001 - report, keep the other setups
                failed[setup.key] = f"{type(exc).__name__}: {str(exc)[:300]}"
                log(f"[scale] {setup.title}: {failed[setup.key]}")
                continue
            runs[setup.key].append(result)
            log(
                f"[scale] round {r + 1} {setup.title}: {result['turns']} turns, "
                f"ack p99 {result['ack_p99_ms']:.1f} ms, {result['turns_per_s']:.0f} turns/s, "
                f"{result['errors']} errors ({time.perf_counter() - t0:.0f} s)"
            )
    summary = {
        key: {k: Figure.of(run[k] for run in rs).as_dict() for k in KEYS}
        for key, rs in runs.items()
        if rs
    }
    return {
        "load": load.__dict__,
        "cpus": os.cpu_count(),
        "setups": {s.key: s.title for s in setups},
        "skipped": skipped | failed,
        "summary": summary,
        "runs": runs,
    }


def _fig(d: dict[str, Any], digits: int = 1) -> str:
    return Figure(d["median"], d["min"], d["max"], d["runs"]).text(digits)


def section(data: dict[str, Any]) -> Section:
    """The results as a report section (also the body of ``results/scale.md``)."""
    load = data["load"]
    s = Section(
        "scale",
        f"7. Scale: {load['conversations']} concurrent conversations against the deployed "
        "web processes",
    )
    s.columns = [
        "setup",
        "ack p50 ms",
        "ack p99 ms",
        "reply p50 ms",
        "reply p99 ms",
        "turns/s",
        "bot CPU ms/turn",
        "errors",
    ]
    for key, title in data["setups"].items():
        if key not in data["summary"]:
            continue
        f, rs = data["summary"][key], data["runs"][key]
        s.rows.append(
            [
                title,
                _fig(f["ack_p50_ms"]),
                _fig(f["ack_p99_ms"]),
                _fig(f["reply_p50_ms"]),
                _fig(f["reply_p99_ms"]),
                _fig(f["turns_per_s"], 0),
                _fig(f["bot_cpu_ms_per_turn"]),
                str(sum(r["errors"] for r in rs)),
            ]
        )
    main = data["summary"].get("slack-2-redis")
    if main:
        n = load["conversations"]
        s.check(
            f"Slack ack p99, {n} concurrent, 2 workers, Redis",
            "< 100 ms",
            f"{_fig(main['ack_p99_ms'])} ms",
            main["ack_p99_ms"]["median"] < 100,
        )
        s.check(
            f"Slack turns/s, {n} concurrent, 2 workers, Redis",
            ">= 400",
            _fig(main["turns_per_s"], 0),
            main["turns_per_s"]["median"] >= 400,
        )
    for key, why in data["skipped"].items():
        s.notes.append(f"- {data['setups'][key]}: not measured: {why}.")
    if not s.rows:
        s.status, s.reason = "skipped", "; ".join(data["skipped"].values()) or "nothing ran"
    loads = [
        r[k] for rs in data["runs"].values() for r in rs for k in ("load_before", "load_after")
    ]
    load_cpu = [r["load_cpu_ms_per_turn"] for rs in data["runs"].values() for r in rs]
    redis_cpu = [
        r["redis_cpu_ms_per_turn"]
        for rs in data["runs"].values()
        for r in rs
        if r.get("redis_cpu_ms_per_turn") is not None
    ]
    s.notes.append(
        f"{load['conversations']} simulated people at once, each {load['turns']} turns (start, a "
        f'flow\'s button, then "skip"; a {load["limit_s"]:.0f} s limit), on 127.0.0.1; a turn '
        "counts when the request was acked (HTTP 200) and the bot's reply reached the fake "
        "platform API. *ack*: time to the HTTP response; *reply*: time to the reply's first "
        "Web API call; *turns/s*: completed turns over the run's wall time; *bot CPU*: every "
        "process of the server (gunicorn's master and workers, or the Telegram process) per "
        f"turn. Median over {load['rounds']} rounds (lowest and highest in brackets); each "
        "round a fresh server and an empty store, the setups taking turns. "
        f"{'Connections kept alive' if load['keep_alive'] else 'A new connection per request'}; "
        f"the fake Slack API answers after {load.get('api_latency_s', 0) * 1000:.0f} ms. "
        "Command: `.venv/bin/python -m benchmarks.scale` (or `make bench`)."
    )
    if loads:
        s.notes.append(
            f"Machine: {data['cpus']} cores. The load generator and the fake APIs run on the "
            f"same cores as the bots and used {min(load_cpu):.1f}–{max(load_cpu):.1f} ms of CPU "
            "per turn themselves"
            + (
                f"; redis-server {min(redis_cpu):.2f}–{max(redis_cpu):.2f} ms per turn"
                if redis_cpu
                else ""
            )
            + f". 1-minute load average {min(loads):.1f} to {max(loads):.1f} around the runs."
        )
    s.notes.append(
        "Web commands: "
        + "; ".join(
            f"{data['setups'][k]}: `{rs[0]['server']}`" for k, rs in data["runs"].items() if rs
        )
    )
    s.data = data
    return s


def report(data: dict[str, Any]) -> str:
    s = section(data)
    lines = [f"# {s.title.split(': ', 1)[1]}", ""]
    if s.rows:
        lines += ["| " + " | ".join(s.columns) + " |", "|" + "---|" * len(s.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in s.rows]
        lines.append("")
    for b in s.budget:
        lines.append(
            f"- Target: {b['what']} {b['target']}: {b['measured']} ({'met' if b['met'] else '**not met**'})"
        )
    if s.budget:
        lines.append("")
    for note in s.notes:
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def run(quick: bool, out: Path | None = None) -> list[Section]:
    """The part of ``benchmarks.run``: writes ``scale.md`` and ``scale.json`` into ``out``."""
    data = measure_all(
        Load.quick() if quick else Load(), log=lambda m: print(m, file=sys.stderr, flush=True)
    )
    data["quick"] = quick
    if out is not None:
        write(data, out)
    return [section(data)]


def write(data: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.md").write_text(report(data), encoding="utf-8")
    (out / "scale.json").write_text(
        json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small, one round")
    parser.add_argument("--rounds", type=int, help="rounds (default 3; quick 1)")
    parser.add_argument("--conversations", type=int, help="at once (default 200)")
    parser.add_argument("--turns", type=int, help="turns per conversation (default 8)")
    parser.add_argument(
        "--only", help="comma-separated setups: " + ", ".join(s.key for s in SETUPS)
    )
    parser.add_argument("--web", help="a web command to use instead of the Procfile's (tuning)")
    parser.add_argument("--keep-alive", action="store_true", help="reuse connections")
    parser.add_argument(
        "--api-latency-ms", type=float, default=0.0, help="Slack's fake Web API answers this late"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write scale.md/.json (default: results/, not with --quick)",
    )
    args = parser.parse_args(argv)
    load = Load.quick() if args.quick else Load()
    load.rounds = args.rounds or load.rounds
    load.conversations = args.conversations or load.conversations
    load.turns = args.turns or load.turns
    load.keep_alive = args.keep_alive
    load.api_latency_s = args.api_latency_ms / 1000
    only = args.only.split(",") if args.only else None
    data = measure_all(load, only, args.web)
    data["quick"] = args.quick
    out = args.out or (None if args.quick or only or args.web else RESULTS)
    if out is not None:
        write(data, out)
    print(report(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
