"""Part 3: bot turns under load, 50 concurrent simulated conversations on loopback.

Slack: the real web process (the Procfile's gunicorn line, bound to 127.0.0.1) receiving signed
requests; its Web API client points at a fake Slack API in this process that records each
``chat.postMessage`` and ``chat.update`` (a reply is a new message or the question card edited
in place). Measured per turn: time to the HTTP response (Slack's "ack") and time until the
reply reaches the fake API. Telegram: the real ``Application`` from ``bots.telegram`` fed updates
through ``Application.process_update``; its Bot API calls go to a fake Bot API here, and a turn
is the whole ``process_update`` (the reply is sent before it returns).

Interface assumed (issue 4's bots, as written in bots/ when this was added): configuration
from environment variables through ``bots.config.slack_config`` / ``telegram_config``
(``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``, ``DVRULES_SLACK_ALLOWED_TEAMS``,
``DVRULES_SLACK_API_URL``, ``TELEGRAM_BOT_TOKEN``, ``DVRULES_TELEGRAM_ALLOWED_USERS``,
``DVRULES_TELEGRAM_BASE_URL``, ``DVRULES_ID_SALT``, ``DVRULES_DB``); Slack requests at
``/slack/events`` and ``GET /healthz``; ``bots.telegram.build_application(config, rules,
store)``; a conversation is "start" (a menu whose buttons carry ``f|<flow>``), the flow's
button, then typed "skip" ("don't know") for each question. If a module is missing or does not
import, that half is reported as skipped; if the interface differs, as an error naming it.

Before and after (``main``): ``python -m benchmarks.bots_bench --trees OLD NEW --names
before,after --rounds 3`` runs the Slack half against each source tree's own Procfile web
command, code and knowledge, the trees taking turns, into ``results/slack-ack.md`` and ``.json``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import importlib
import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks.common import Section, latency_stats
from dvrules import DVRules

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-signing-secret-0123456789abcdef"
SALT = "bench-salt-" + "0123456789abcdef" * 3
TEAM = "T0BENCH"
TG_TOKEN = "123456:" + "A" * 35
CONVERSATIONS = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Recorder:
    """Messages the bot posted, by channel or chat, with the time each arrived."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.posts: dict[str, list[tuple[float, dict[str, Any]]]] = {}
        self.calls = 0

    def add(self, where: str, message: dict[str, Any]) -> None:
        with self.lock:
            self.posts.setdefault(where, []).append((time.perf_counter(), message))
            self.lock.notify_all()

    def count(self, where: str) -> int:
        with self.lock:
            return len(self.posts.get(where, []))

    def wait(self, where: str, mark: int, timeout: float) -> tuple[float, dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.posts.get(where, [])) <= mark:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.lock.wait(left)
            return self.posts[where][mark]


def _serve(handler_fn: Any) -> tuple[ThreadingHTTPServer, int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, reply = handler_fn(self.path, self.headers.get("Content-Type", ""), body)
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST  # noqa: N815

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, server.server_address[1]


def _params(content_type: str, body: bytes) -> dict[str, Any]:
    if "json" in content_type:
        return json.loads(body or b"{}")
    return {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}


# ---------------------------------------------------------------------- Slack


def _fake_slack(rec: _Recorder) -> tuple[ThreadingHTTPServer, int]:
    ts = itertools.count(1)

    def handle(path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        p = _params(content_type, body)
        method = path.split("/api/")[-1].split("?")[0]
        if method == "auth.test":
            return 200, {
                "ok": True,
                "team_id": TEAM,
                "user_id": "UBOT",
                "bot_id": "BBOT",
                "team": "bench",
                "user": "dvrules",
                "url": "https://example.invalid/",
            }
        if method in ("chat.postMessage", "chat.update"):  # a reply: a new message or an edit
            blocks = p.get("blocks")
            blocks = json.loads(blocks) if isinstance(blocks, str) else (blocks or [])
            msg = {
                "ts": p.get("ts") or f"1700000000.{next(ts):06d}",
                "channel": p.get("channel"),
                "blocks": blocks,
                "text": p.get("text"),
                "method": method,
            }
            rec.add(str(p.get("channel")), msg)
            return 200, {"ok": True, "channel": msg["channel"], "ts": msg["ts"], "message": msg}
        return 200, {"ok": True}

    return _serve(handle)


def _web_command(port: int, root: Path = ROOT) -> list[str]:
    """The Procfile's web line, bound to loopback (gunicorn from this environment)."""
    procfile = root / "Procfile"
    line = None
    if procfile.exists():
        for raw in procfile.read_text().splitlines():
            if raw.startswith("web:"):
                line = raw[4:].strip()
    if line is None:
        line = (
            "gunicorn --no-control-socket --workers 1 --threads 8 --bind 0.0.0.0:$PORT "
            "'bots.slack_server:create_wsgi_app()'"
        )
    line = line.replace("$PORT", str(port)).replace("0.0.0.0", "127.0.0.1")
    # this part measures one worker (part 7, benchmarks/scale.py, measures several)
    line = re.sub(r"\$\{WEB_CONCURRENCY:-\d+\}", "1", line)
    args = shlex.split(line)
    if args[0] == "gunicorn":
        args = [sys.executable, "-m", "gunicorn", *args[1:]]
    return args


def _group_cpu(pgid: int) -> float:
    """CPU seconds used so far by every process in a process group (Linux /proc)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def _sign(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    sig = hmac.new(
        SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + sig}


def _post(url: str, body: bytes, content_type: str) -> int:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, **_sign(body)}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code


def _slack_conversation(
    n: int,
    flow: str,
    url: str,
    rec: _Recorder,
    turns: int,
    deadline: float,
    out: dict[str, list[float]],
    errors: list[str],
) -> None:
    user, channel = f"U{n:07d}", f"D{n:07d}"
    events = itertools.count()
    message: dict[str, Any] | None = None
    for turn in range(turns):
        if time.monotonic() > deadline:
            return
        if turn == 0:
            body = urllib.parse.urlencode(
                {
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
            ).encode()
            ctype = "application/x-www-form-urlencoded"
        elif turn == 1:
            buttons = [
                el
                for bl in (message or {}).get("blocks", [])
                if bl.get("type") == "actions"
                for el in bl.get("elements", [])
            ]
            chosen = next((b for b in buttons if b.get("value") == f"f|{flow}"), None) or next(
                (b for b in buttons if flow in str(b.get("value", "")).split("|")), None
            )
            if chosen is None:
                errors.append(f"no button for flow {flow} in the start menu")
                return
            payload = {
                "type": "block_actions",
                "team": {"id": TEAM, "domain": "bench"},
                "user": {"id": user, "username": "w", "team_id": TEAM},
                "api_app_id": "A0APP",
                "token": "x",
                "trigger_id": f"t{n}-{turn}",
                "container": {
                    "type": "message",
                    "message_ts": message["ts"],
                    "channel_id": channel,
                    "is_ephemeral": False,
                },
                "channel": {"id": channel, "name": "directmessage"},
                "message": {
                    "type": "message",
                    "ts": message["ts"],
                    "blocks": message["blocks"],
                    "text": message.get("text"),
                },
                "response_url": "http://127.0.0.1:9/none",
                "actions": [
                    {
                        "type": "button",
                        "action_id": chosen.get("action_id"),
                        "block_id": "b",
                        "value": chosen["value"],
                        "action_ts": str(time.time()),
                        "text": {"type": "plain_text", "text": "x"},
                    }
                ],
            }
            body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(
                {
                    "token": "x",
                    "team_id": TEAM,
                    "api_app_id": "A0APP",
                    "type": "event_callback",
                    "event_id": f"Ev{n:05d}{next(events):05d}",
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
            ).encode()
            ctype = "application/json"
        mark = rec.count(channel)
        t0 = time.perf_counter()
        status = _post(url, body, ctype)
        acked = time.perf_counter()
        if status != 200:
            errors.append(f"HTTP {status}")
            return
        got = rec.wait(channel, mark, timeout=30)
        if got is None:
            errors.append("no reply within 30 s")
            return
        out["ack"].append(acked - t0)
        out["reply"].append(got[0] - t0)
        if message is None:
            message = got[1]  # the start menu, whose button turn 1 presses
        # a finishing turn posts more than one message: let them all arrive before going on
        while rec.wait(channel, rec.count(channel), timeout=0.05) is not None:
            pass


def _slack(rules: DVRules, quick: bool, store_dir: str, root: Path = ROOT) -> dict[str, Any]:
    rec = _Recorder()
    fake, fake_port = _fake_slack(rec)
    port = _free_port()
    env = dict(
        os.environ,
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        DVRULES_SLACK_ALLOWED_TEAMS=TEAM,
        DVRULES_SLACK_API_URL=f"http://127.0.0.1:{fake_port}/api/",
        DVRULES_ID_SALT=SALT,
        DVRULES_DB=store_dir,
        DVRULES_LOG_LEVEL="WARNING",
        PORT=str(port),
        HOME=store_dir,
        PYTHONPATH=str(root),
    )
    cmd = _web_command(port, root)
    proc = subprocess.Popen(
        cmd,
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        up = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Slack web process exited: {proc.stderr.read()[-600:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2):
                    break
            except OSError as exc:
                if time.monotonic() > up:
                    raise RuntimeError(
                        "the Slack web process did not answer /healthz in 60 s"
                    ) from exc
                time.sleep(0.1)
        cpu0, own0 = _group_cpu(proc.pid), time.process_time()
        result = _load(
            rules,
            quick,
            lambda n, flow, turns, deadline, out, errors: _slack_conversation(
                n, flow, url + "/slack/events", rec, turns, deadline, out, errors
            ),
            " ".join(cmd[2:] if cmd[1] == "-m" else cmd),
        )
        result["server_cpu_s"] = _group_cpu(proc.pid) - cpu0
        result["client_cpu_s"] = time.process_time() - own0
        return result
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # our own child's process group
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        fake.shutdown()


def _load(rules: DVRules, quick: bool, one: Any, server: str) -> dict[str, Any]:
    """50 conversations in threads at once; each: start, choose its flow, then skip questions."""
    turns = 3 if quick else 12
    count = _count(quick)
    flows = list(rules.kb.flows)
    out: dict[str, list[float]] = {"ack": [], "reply": []}
    errors: list[str] = []
    deadline = time.monotonic() + (20 if quick else 120)
    threads = [
        threading.Thread(
            target=one, args=(n, flows[n % len(flows)], turns, deadline, out, errors), daemon=True
        )
        for n in range(count)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, deadline - time.monotonic() + 35))
    wall = time.perf_counter() - t0
    return {
        "ack": out["ack"],
        "reply": out["reply"],
        "wall": wall,
        "errors": errors,
        "server": server,
        "turns_each": turns,
    }


# ---------------------------------------------------------------------- Telegram


def _fake_telegram(rec: _Recorder) -> tuple[ThreadingHTTPServer, int]:
    ids = itertools.count(1)
    bot_user = {"id": 123456, "is_bot": True, "first_name": "dvrules", "username": "bench_bot"}

    def handle(path: str, content_type: str, body: bytes) -> tuple[int, Any]:
        p = _params(content_type, body)
        method = path.rsplit("/", 1)[-1]
        if method == "getMe":
            return 200, {"ok": True, "result": bot_user}
        if method in ("sendMessage", "editMessageText"):  # a reply: new, or the card edited
            msg = {
                "message_id": int(p["message_id"]) if "message_id" in p else next(ids),
                "date": int(time.time()),
                "from": bot_user,
                "chat": {"id": int(p["chat_id"]), "type": "private"},
                "text": p.get("text"),
            }
            if p.get("reply_markup"):
                markup = p["reply_markup"]
                msg["reply_markup"] = json.loads(markup) if isinstance(markup, str) else markup
            rec.add(str(p["chat_id"]), msg)
            return 200, {"ok": True, "result": msg}
        return 200, {"ok": True, "result": True}

    return _serve(handle)


async def _telegram_async(rules: DVRules, quick: bool, store_dir: str) -> dict[str, Any]:
    from telegram import Update

    import bots.telegram as telegram_bot
    from bots.config import telegram_config
    from bots.telegram import build_application
    from dvrules.store import TinyDBStore

    rec = _Recorder()
    fake, fake_port = _fake_telegram(rec)
    users = [1000 + n for n in range(_count(quick))]
    config = telegram_config(
        {
            "TELEGRAM_BOT_TOKEN": TG_TOKEN,
            "DVRULES_TELEGRAM_ALLOWED_USERS": ",".join(map(str, users)),
            "DVRULES_TELEGRAM_BASE_URL": f"http://127.0.0.1:{fake_port}/bot",
            "DVRULES_ID_SALT": SALT,
            "DVRULES_DB": store_dir,
            "DVRULES_LOG_LEVEL": "WARNING",
        }
    )
    # the bot's own capacity: python-telegram-bot's limiter holds no overall rate here (as
    # deployed it keeps a bot under Telegram's ~30 calls a second; part 7 measures that too)
    limiter = telegram_bot.AIORateLimiter  # type: ignore[attr-defined]
    telegram_bot.AIORateLimiter = functools.partial(limiter, overall_max_rate=0)  # type: ignore[assignment, attr-defined]
    try:
        app = build_application(config, rules=rules, store=TinyDBStore(store_dir))
    finally:
        telegram_bot.AIORateLimiter = limiter  # type: ignore[attr-defined]
    await app.initialize()
    turns = 3 if quick else 12
    flows = list(rules.kb.flows)
    times: list[float] = []
    errors: list[str] = []
    update_ids = itertools.count(1)
    deadline = time.monotonic() + (20 if quick else 120)

    def user(uid: int) -> dict[str, Any]:
        return {"id": uid, "is_bot": False, "first_name": "worker"}

    async def conversation(n: int) -> None:
        uid, flow = users[n], flows[n % len(flows)]
        for turn in range(turns):
            if time.monotonic() > deadline:
                return
            now = int(time.time())
            if turn == 1:
                data: dict[str, Any] = {
                    "update_id": next(update_ids),
                    "callback_query": {
                        "id": f"cq{n}-{turn}",
                        "from": user(uid),
                        "chat_instance": str(uid),
                        "data": f"f|{flow}",
                        "message": {
                            "message_id": 1,
                            "date": now,
                            "text": "menu",
                            "chat": {"id": uid, "type": "private"},
                        },
                    },
                }
            else:
                data = {
                    "update_id": next(update_ids),
                    "message": {
                        "message_id": next(update_ids),
                        "date": now,
                        "from": user(uid),
                        "chat": {"id": uid, "type": "private"},
                        "text": "/start" if turn == 0 else "skip",
                    },
                }
            update = Update.de_json(data, app.bot)
            mark = rec.count(str(uid))
            t0 = time.perf_counter()
            await app.process_update(update)  # hands the turn to the bot's pool of turns
            replied = time.monotonic() + 30
            while rec.count(str(uid)) <= mark and time.monotonic() < replied:
                await asyncio.sleep(0.002)
            times.append(time.perf_counter() - t0)
            if rec.count(str(uid)) <= mark:
                errors.append("process_update sent no reply within 30 s")
                return

    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(n) for n in range(len(users))))
    wall = time.perf_counter() - t0
    await app.shutdown()
    fake.shutdown()
    return {"reply": times, "wall": wall, "errors": errors, "turns_each": turns}


# ---------------------------------------------------------------------- the section


def _count(quick: bool) -> int:
    return 10 if quick else CONVERSATIONS


def _importable(module: str, path: str) -> str | None:
    """None if ``module`` imports, else why it is skipped."""
    if not (ROOT / path).exists():
        return f"{path} does not exist yet"
    try:
        importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - any import failure means: not ready
        return f"{path} does not import ({type(exc).__name__}: {str(exc)[:200]})"
    return None


def run(rules: DVRules, quick: bool) -> list[Section]:
    section = Section(
        "bots", f"3. Bot turns under load ({_count(quick)} concurrent conversations on loopback)"
    )
    section.columns = [
        "adapter",
        "turns",
        "ack p50 ms",
        "ack p99 ms",
        "reply p50 ms",
        "reply p99 ms",
        "turns/s",
        "errors",
    ]
    reasons = []
    for name, module, path in (
        ("Slack HTTP endpoint", "bots.slack", "bots/slack.py"),
        ("Telegram process_update", "bots.telegram", "bots/telegram.py"),
    ):
        why = _importable(module, path)
        if why:
            reasons.append(f"{name}: skipped, {why}")
            continue
        try:
            with tempfile.TemporaryDirectory(prefix="dvrules-bench-bots-") as tmp:
                if module == "bots.slack":
                    r = _slack(rules, quick, tmp)
                else:
                    r = asyncio.run(_telegram_async(rules, quick, tmp))
        except Exception as exc:  # noqa: BLE001 - report, keep the other adapter
            reasons.append(
                f"{name}: error, the assumed interface may differ "
                f"({type(exc).__name__}: {str(exc)[:300]})"
            )
            continue
        reply = latency_stats(r["reply"]) if r["reply"] else None
        ack = latency_stats(r["ack"]) if r.get("ack") else None
        n = len(r["reply"])
        per_s = n / r["wall"] if r["wall"] else 0.0
        if r.get("server_cpu_s") is not None and n:
            section.notes.append(
                f"- {name}: the bot process used {r['server_cpu_s'] / n * 1000:.1f} ms of CPU "
                f"per turn ({r['server_cpu_s'] / r['wall']:.0%} of one core over the run); the "
                f"load generator and fake API here used {r['client_cpu_s'] / n * 1000:.1f} ms "
                f"per turn, on the same {os.cpu_count()} cores."
            )
        section.data[module] = {
            "turns": n,
            "wall_s": r["wall"],
            "turns_per_s": per_s,
            "server_cpu_s": r.get("server_cpu_s"),
            "client_cpu_s": r.get("client_cpu_s"),
            "ack": ack,
            "reply": reply,
            "errors": r["errors"][:20],
            "error_count": len(r["errors"]),
            "turns_each": r["turns_each"],
            "server": r.get("server"),
        }

        def fmt(s: dict[str, Any] | None, k: str) -> str:
            return f"{s[k]:.1f}" if s else "n/a"

        section.rows.append(
            [
                name,
                f"{n:,}",
                fmt(ack, "p50_ms") if ack else "—",
                fmt(ack, "p99_ms") if ack else "—",
                fmt(reply, "p50_ms"),
                fmt(reply, "p99_ms"),
                f"{per_s:.0f}",
                str(len(r["errors"])),
            ]
        )
        if module == "bots.slack" and ack:
            section.check(
                f"Slack p99 time to ack ({_count(quick)} concurrent)",
                "< 100 ms",
                f"{ack['p99_ms']:.1f} ms",
                ack["p99_ms"] < 100,
            )
        section.check(
            f"{name} turns per second ({_count(quick)} concurrent)",
            ">= 200",
            f"{per_s:.0f}",
            per_s >= 200,
        )
    if not section.rows:
        section.status = "skipped"
    section.reason = "; ".join(reasons)
    section.notes += [f"- {r}" for r in reasons]
    section.notes.append(
        f"Each of {_count(quick)} simulated people runs one conversation at the same time as "
        'the others: start, choose a flow (the flows in turn), then answer "skip" to each '
        "question, a bounded number of turns each (and a time limit). Slack: the Procfile's "
        "web process (gunicorn, one worker, its threads) on 127.0.0.1, signed requests; *ack* "
        "is the HTTP response, *reply* the moment the fake Web API receives `chat.postMessage`. "
        "Telegram: `Application.process_update` in this process with the fake Bot API; a turn "
        "ends when the reply has been sent. One run each (a load test is one measurement), so "
        "no spread; the turns' own distribution is what p50/p99 describe. See the module "
        "docstring of `benchmarks/bots_bench.py` for the interface assumed."
    )
    return [section]


# ---------------------------------------------------------------------- before / after


def compare(trees: list[Path], names: list[str], rounds: int, quick: bool) -> dict[str, Any]:
    """The Slack web process of each source tree (its own Procfile, code and knowledge) under
    the same load, the trees taking turns round after round so that whatever else runs on the
    machine weighs on all of them alike."""
    from benchmarks.common import Figure
    from dvrules import default_rules

    rules = default_rules()
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for _ in range(rounds):
        for tree, name in zip(trees, names):
            load = os.getloadavg()[0]
            with tempfile.TemporaryDirectory(prefix="dvrules-bench-slack-") as tmp:
                r = _slack(rules, quick, tmp, tree)
            ack, n = latency_stats(r["ack"]) if r["ack"] else None, len(r["reply"])
            runs[name].append(
                {
                    "ack_p50_ms": ack["p50_ms"] if ack else float("nan"),
                    "ack_p99_ms": ack["p99_ms"] if ack else float("nan"),
                    "reply_p99_ms": latency_stats(r["reply"])["p99_ms"] if n else float("nan"),
                    "turns_per_s": n / r["wall"],
                    "turns": n,
                    "errors": len(r["errors"]),
                    "cpu_ms_per_turn": r["server_cpu_s"] / n * 1000 if n else float("nan"),
                    "error_kinds": sorted(set(r["errors"]))[:5],
                    "load_before": load,
                    "load_after": os.getloadavg()[0],
                    "server": r["server"],
                }
            )
    summary = {
        name: {
            key: Figure.of(run[key] for run in rs).as_dict()
            for key in (
                "ack_p50_ms",
                "ack_p99_ms",
                "reply_p99_ms",
                "turns_per_s",
                "cpu_ms_per_turn",
            )
        }
        for name, rs in runs.items()
    }
    return {
        "conversations": _count(quick),
        "turns_each": 3 if quick else 12,
        "rounds": rounds,
        "cpus": os.cpu_count(),
        "summary": summary,
        "runs": runs,
    }


def report(data: dict[str, Any]) -> str:
    from benchmarks.common import Figure

    def fig(d: dict[str, Any]) -> str:
        return Figure(d["median"], d["min"], d["max"], d["runs"]).text(1)

    names = list(data["summary"])
    lines = [
        f"# Slack web process: ack and turns at {data['conversations']} concurrent "
        "conversations, before and after",
        "",
        f"{data['conversations']} simulated people at once, each: the slash command, a "
        f'flow\'s button, then typed "skip" ({data.get("turns_each", 12)} turns each, the '
        "flows in turn), as signed requests to the tree's own Procfile `web` command on "
        f"127.0.0.1. Median over {data['rounds']} rounds (lowest and highest round in "
        "brackets); the trees took turns each round. Command: `.venv/bin/python -m "
        "benchmarks.bots_bench --trees BEFORE AFTER --names before,after --rounds 5`.",
        "",
        "| tree | ack p50 ms | ack p99 ms | reply p99 ms | turns/s | bot CPU ms/turn | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        s, rs = data["summary"][name], data["runs"][name]
        cpu = fig(s["cpu_ms_per_turn"]) if "cpu_ms_per_turn" in s else "n/a"
        lines.append(
            f"| {name} | {fig(s['ack_p50_ms'])} | {fig(s['ack_p99_ms'])} | "
            f"{fig(s['reply_p99_ms'])} | {fig(s['turns_per_s'])} | {cpu} | "
            f"{sum(r['errors'] for r in rs)} |"
        )
    loads = [
        r[k] for rs in data["runs"].values() for r in rs for k in ("load_before", "load_after")
    ]
    lines += [
        "",
        f"Machine: {data['cpus']} cores, shared with other work; 1-minute load average "
        f"{min(loads):.1f} to {max(loads):.1f} around the runs (it counts the benchmark's own "
        "threads: the load generator and fake Slack API run on the same cores as the bot). "
        "*ack* is the HTTP response to a signed request, *reply* the first Web API call of "
        "the turn (a new message or the card edited), *turns/s* over the whole run.",
        "",
        "Web command of each tree:",
        "",
    ]
    lines += [f"- {name}: `{data['runs'][name][0]['server']}`" for name in names]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Slack ack p99 and turns/s, before and after")
    parser.add_argument("--trees", nargs="+", type=Path, default=[ROOT])
    parser.add_argument("--names", help="comma-separated names for the trees")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--report", type=Path, help="only rewrite the report of a saved .json")
    args = parser.parse_args(argv)
    if args.report:
        text = report(json.loads(args.report.read_text()))
        args.report.with_suffix(".md").write_text(text)
        print(text)
        return 0
    names = args.names.split(",") if args.names else [str(t) for t in args.trees]
    data = compare([t.resolve() for t in args.trees], names, args.rounds, args.quick)
    text = report(data)
    if not args.quick:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "slack-ack.md").write_text(text)
        (args.out / "slack-ack.json").write_text(json.dumps(data, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
