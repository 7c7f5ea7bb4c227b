"""The real Procfile under honcho, against the fake Telegram and Slack servers: the web process
(two gunicorn workers) answers /healthz and a signed slash command, a request replayed to both
workers at once is answered once, the worker answers a Telegram update, and one SIGTERM stops
both cleanly; with the file store and with Redis (``DVRULES_STORE``). Also: a bad configuration
stops a bot at once with a clear message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_fakes import (
    ALLOWED_TG,
    ALLOWED_USER,
    SALT,
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    TELEGRAM_TOKEN,
    FakeSlack,
    FakeTelegram,
    SlackRequests,
    free_port,
    http_get,
    http_post,
    slack_sign,
)
from bot_runners import slack_env, telegram_env

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DVRULES_", "SLACK_", "TELEGRAM_"))
    }
    env.update(extra)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = extra.get("HOME", env.get("HOME", "/tmp"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def fakes() -> Iterator[tuple[FakeTelegram, FakeSlack]]:
    tg, sl = FakeTelegram().start(), FakeSlack().start()
    yield tg, sl
    tg.stop()
    sl.stop()


@pytest.mark.parametrize("kind", ["files", "redis"])
def test_the_procfile_runs_both_bots_and_sigterm_stops_both(
    fakes: tuple[FakeTelegram, FakeSlack], tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    tg, sl = fakes
    port = free_port()
    store = tmp_path / "sessions"
    shared = {"DVRULES_STORE": request.getfixturevalue("redis_url")} if kind == "redis" else {}
    env = _env(
        {
            **telegram_env(store, tg),
            **slack_env(store, sl),
            **shared,
            "PORT": str(port),
            "HOME": str(tmp_path),
        }
    )
    with (tmp_path / "honcho.log").open("w+") as log:
        _run_procfile(env, port, tg, sl, log)


def _run_procfile(
    env: dict[str, str], port: int, tg: FakeTelegram, sl: FakeSlack, log: Any
) -> None:
    proc = subprocess.Popen(
        [str(BIN / "honcho"), "-f", str(ROOT / "Procfile"), "start"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, _read(log)
            assert time.monotonic() < deadline, "web did not answer /healthz: " + _read(log)
            time.sleep(0.1)
        # a signed slash command through gunicorn
        mark = sl.mark()
        status, _ = SlackRequests(f"http://127.0.0.1:{port}/slack/events", sl).command(
            ALLOWED_USER, ""
        )
        assert status == 200
        calls = sl.settle_sync(mark, ("chat.postMessage",), timeout=20)
        assert any("call 999" in str(c.params.get("blocks")) for c in calls)
        mark = sl.mark()  # a typed direct message with details that must not reach the logs
        slack = SlackRequests(f"http://127.0.0.1:{port}/slack/events", sl)
        assert slack.event(ALLOWED_USER, "Jane Doe, 12 High Street")[0] == 200
        calls = sl.settle_sync(mark, ("chat.postMessage", "chat.update"), timeout=20)
        assert "Jane" not in str([c.params for c in calls])
        _replayed_to_both_workers_is_answered_once(port, sl)
        # a Telegram update through the polling worker
        mark = tg.mark()
        tg.push_text(ALLOWED_TG, "/start")
        calls = tg.settle_sync(mark, ("sendMessage",), timeout=20)
        assert any("call 999" in c.params.get("text", "") for c in calls)
        mark = tg.mark()
        tg.push_text(ALLOWED_TG, "Jane Doe, 12 High Street")
        tg.settle_sync(mark, ("sendMessage",), timeout=20)
        # one SIGTERM to honcho stops both, cleanly
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=25)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out = _read(log)
    assert "Telegram bot stopped" in out, out
    assert "Shutting down: Master" in out, out
    assert out.count("Booting worker") == 2, out  # WEB_CONCURRENCY unset: two web workers
    with pytest.raises(ProcessLookupError):  # nothing of the group is left running
        os.killpg(proc.pid, 0)
    # no secret, token or typed text in the logs
    for secret in (
        TELEGRAM_TOKEN,
        SLACK_BOT_TOKEN,
        SLACK_SIGNING_SECRET,
        SALT,
        str(ALLOWED_TG),
        ALLOWED_USER,
        "Jane",
        "High Street",
    ):
        assert secret not in out


def _replayed_to_both_workers_is_answered_once(port: int, sl: FakeSlack) -> None:
    """One signed request sent eight times at once reaches both gunicorn workers; the memory
    of requests seen is the store's, so exactly one of them answers it."""
    body = SlackRequests("", sl).command_body(ALLOWED_USER, "help")
    body = body.replace(b"trig-1", b"trig-replayed")  # a trigger id not used before
    headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_sign(body)}
    mark = sl.mark()
    statuses: list[int] = []
    go = threading.Barrier(8)

    def send() -> None:
        go.wait()
        statuses.append(http_post(f"http://127.0.0.1:{port}/slack/events", body, headers)[0])

    senders = [threading.Thread(target=send) for _ in range(8)]
    for t in senders:
        t.start()
    for t in senders:
        t.join(30)
    assert statuses == [200] * 8
    sl.settle_sync(mark, ("chat.postMessage",), quiet=1.0, timeout=20)
    assert len(sl.since(mark, "chat.postMessage")) == 1


def _read(log: object) -> str:
    log.flush()  # type: ignore[attr-defined]
    log.seek(0)  # type: ignore[attr-defined]
    return log.read()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "python"), "-m", "bots.telegram"],
        [str(BIN / "python"), "-m", "bots.slack_server", "--socket-mode"],
        [
            str(BIN / "gunicorn"),
            "--no-control-socket",
            "--preload",
            "--bind",
            "127.0.0.1:0",
            "bots.slack_server:create_wsgi_app()",
        ],
    ],
)
def test_a_missing_setting_stops_the_bot_with_a_clear_message(
    command: list[str], tmp_path: Path
) -> None:
    env = _env({"HOME": str(tmp_path), "DVRULES_ID_SALT": "short"})
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    err = done.stderr
    assert "cannot start" in err and "DVRULES_ID_SALT must be" in err
    assert "Traceback" not in err
    if "telegram" in " ".join(command):
        assert "TELEGRAM_BOT_TOKEN" in err and "DVRULES_TELEGRAM_ALLOWED_USERS" in err
    else:
        assert "SLACK_BOT_TOKEN" in err and "DVRULES_SLACK_ALLOWED_TEAMS" in err


def test_slack_socket_mode_answers_a_command_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The Procfile's alternative line, against a fake Socket Mode endpoint."""
    from bot_fakes import FakeSocketMode

    sl, ws = FakeSlack().start(), FakeSocketMode()
    sl.socket_url = ws.url
    env = _env(
        {
            **slack_env(tmp_path / "sessions", sl),
            "SLACK_APP_TOKEN": "xapp-test-token",
            "HOME": str(tmp_path),
        }
    )
    del env["SLACK_SIGNING_SECRET"]
    proc = subprocess.Popen(
        [str(BIN / "python"), "-m", "bots.slack_server", "--socket-mode"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert ws.connected.wait(20), "the bot did not connect"
        mark = sl.mark()
        ws.send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "team_id": "T0ALLOWED",
                    "user_id": ALLOWED_USER,
                    "channel_id": "D0DM",
                    "command": "/dvrules",
                    "text": "help",
                    "api_app_id": "A0APP",
                    "response_url": sl.response_url(),
                    "trigger_id": "t1",
                },
            }
        )
        calls = sl.settle_sync(mark, ("chat.postMessage",), timeout=20)
        assert "call 999" in str(calls[-1].params["blocks"])
        assert [a["envelope_id"] for a in ws.acks] == ["env-1"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        ws.stop()
        sl.stop()
    assert proc.returncode == 0, out
    assert "Slack bot stopped" in out
    assert "xapp-test-token" not in out and SLACK_BOT_TOKEN not in out


@pytest.mark.parametrize(
    "command",
    [
        [str(BIN / "python"), "-m", "bots.telegram"],
        [
            str(BIN / "gunicorn"),
            "--no-control-socket",
            "--preload",
            "--bind",
            "127.0.0.1:0",
            "bots.slack_server:create_wsgi_app()",
        ],
    ],
)
def test_a_store_that_cannot_be_reached_stops_the_bot_with_one_line(
    command: list[str], fakes: tuple[FakeTelegram, FakeSlack], tmp_path: Path
) -> None:
    dead = free_port()  # nothing listens there
    tg, sl = fakes
    env = _env(
        {
            **telegram_env(tmp_path / "sessions", tg),
            **slack_env(tmp_path / "sessions", sl),
            "DVRULES_STORE": f"redis://:pw-not-to-show@127.0.0.1:{dead}/0",
            "HOME": str(tmp_path),
        }
    )
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot start" in done.stderr and "DVRULES_STORE: cannot open" in done.stderr
    assert "cannot be reached" in done.stderr and "Traceback" not in done.stderr
    assert "pw-not-to-show" not in done.stdout + done.stderr
