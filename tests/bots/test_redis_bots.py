"""Both bots over each store (files, memory, a real Redis server): a whole interview where
every turn takes the session's lock once, loads it once and saves it at most once; and
Telegram's webhook run as two processes sharing one Redis store, each update handled once
and the conversation carried on by whichever process gets the next update."""

from __future__ import annotations

import contextlib
import html
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import CDRP_SCRIPT, drive_slack, drive_telegram, referral_script
from bot_fakes import ALLOWED_TG, FakeTelegram, free_port, http_get, http_post, keyboard_buttons
from bot_runners import SlackRunner, TelegramRunner, slack_env, telegram_env

from dvrules import DVRules, MemoryStore, SessionStore, TinyDBStore, open_store

ROOT = Path(__file__).resolve().parents[2]


class Counting:
    """Any store, counting what a turn asks of it (instrumentation: every call goes through)."""

    def __init__(self, inner: SessionStore):
        self.inner = inner
        self.locks = self.loads = self.saves = 0

    def locked(self, session_id: str) -> contextlib.AbstractContextManager[None]:
        self.locks += 1
        return self.inner.locked(session_id)

    def load(self, session_id: str) -> dict[str, Any] | None:
        self.loads += 1
        return self.inner.load(session_id)

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        self.saves += 1
        self.inner.save(session_id, record)

    def __getattr__(self, name: str) -> Any:  # delete, purge_expired, count, first_time
        return getattr(self.inner, name)


@pytest.fixture(params=["files", "memory", "redis"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Counting:
    if request.param == "files":
        return Counting(TinyDBStore(tmp_path / "sessions"))
    if request.param == "memory":
        return Counting(MemoryStore())
    return Counting(open_store(request.getfixturevalue("redis_url")))


async def test_a_telegram_turn_locks_loads_and_saves_the_session_once(
    fake_telegram: FakeTelegram, any_store: Counting, rules: DVRules, tmp_path: Path
) -> None:
    runner = TelegramRunner(
        fake_telegram, any_store, rules, telegram_env(tmp_path / "unused", fake_telegram)
    )
    await runner.start()
    try:
        answers, _ = await drive_telegram(
            runner, rules, "referral", referral_script(rules), "Domestic abuse"
        )
    finally:
        await runner.stop()
    turns = len(runner.done)
    assert answers and turns > len(answers)
    assert any_store.locks == turns and any_store.loads == turns
    assert 0 < any_store.saves <= turns


def test_a_slack_turn_locks_loads_and_saves_the_session_once(
    fake_slack: Any, any_store: Counting, rules: DVRules, tmp_path: Path
) -> None:
    runner = SlackRunner(fake_slack, any_store, rules, slack_env(tmp_path / "unused", fake_slack))
    try:
        answers, _ = drive_slack(runner, rules, "cdrp", CDRP_SCRIPT, "CDRP")
    finally:
        runner.stop()
    turns = runner.bot.turns
    assert answers and turns > len(answers)
    assert any_store.locks == turns and any_store.loads == turns
    assert 0 < any_store.saves <= turns


# ---------------------------------------------------------------------- webhook, two processes


@contextlib.contextmanager
def _webhook(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    """``python -m bots.telegram`` in webhook mode on ``port``, until the block ends."""
    with log.open("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bots.telegram"],
            cwd=ROOT,
            env={**env, "PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http_get(url + "/healthz", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            yield url
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_two_webhook_processes_share_sessions_and_handle_each_update_once(
    fake_telegram: FakeTelegram, redis_url: str, tmp_path: Path, rules: DVRules
) -> None:
    secret = "s3cret-token-of-the-webhook"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DVRULES_", "TELEGRAM_"))},
        **telegram_env(tmp_path / "unused", fake_telegram),
        "DVRULES_STORE": redis_url,
        "DVRULES_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
        "DVRULES_TELEGRAM_WEBHOOK_SECRET": secret,
    }
    signed = {"X-Telegram-Bot-Api-Secret-Token": secret}
    with (
        _webhook(env, free_port(), tmp_path / "a.log") as a,
        _webhook(env, free_port(), tmp_path / "b.log") as b,
    ):
        start = {"update_id": 1001, **fake_telegram.message_update(ALLOWED_TG, "/start")}
        mark = fake_telegram.mark()
        for url in (a, b, a):  # delivered again, to the other process and to the same one
            assert http_post(url + "/telegram", json.dumps(start).encode(), signed)[0] == 200
        calls = fake_telegram.settle_sync(mark, ("sendMessage",), quiet=1.0)
        started = [c for c in calls if c.method == "sendMessage"]
        assert len(started) == len(fake_telegram.since(0, "sendMessage"))
        assert len(started) == 1  # one turn, not three
        card = fake_telegram.last_keyboard_message()
        referral = next(
            bt for bt in keyboard_buttons(card) if bt["text"].startswith("Domestic abuse")
        )
        press = {
            "update_id": 1002,
            **fake_telegram.button_update(ALLOWED_TG, referral["callback_data"]),
        }
        first = rules.next_question("referral", {})
        second = rules.next_question("referral", {first.id: False})  # type: ignore[union-attr]
        assert first is not None and second is not None
        mark = fake_telegram.mark()
        assert http_post(b + "/telegram", json.dumps(press).encode(), signed)[0] == 200
        calls = fake_telegram.settle_sync(mark, ("answerCallbackQuery",), quiet=0.5)
        assert first.text in _shown(calls)
        # the other process carries on the conversation the first one started
        card = fake_telegram.last_keyboard_message()
        no = next(bt for bt in keyboard_buttons(card) if bt["text"] == "No")
        answer = {"update_id": 1003, **fake_telegram.button_update(ALLOWED_TG, no["callback_data"])}
        mark = fake_telegram.mark()
        assert http_post(a + "/telegram", json.dumps(answer).encode(), signed)[0] == 200
        calls = fake_telegram.settle_sync(mark, ("answerCallbackQuery",), quiet=0.5)
        assert second.text in _shown(calls)


def _shown(calls: list[Any]) -> str:
    return html.unescape(" ".join(str(c.params.get("text", "")) for c in calls))


# ---------------------------------------------------------------------- an outage


def test_a_slack_conversation_through_a_redis_outage_says_try_again_and_loses_nothing(
    fake_slack: Any, rules: DVRules, tmp_path: Path
) -> None:
    from bot_fakes import ALLOWED_TEAM, ALLOWED_USER, SALT

    from dvrules import Session
    from dvrules.chat import session_id
    from tests.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis", persistent=True).start()
    runner = SlackRunner(
        fake_slack, open_store(server.url), rules, slack_env(tmp_path / "unused", fake_slack)
    )
    try:
        runner.command("")
        runner.press_label("CDRP")
        first = rules.next_question("cdrp", {})
        assert first is not None
        runner.press_label("Yes")
        server.kill()
        calls = runner.say("skip")  # "don't know", typed
        said = " ".join(str(c.params) for c in calls if c.method == "chat.postMessage")
        assert "cannot be read or saved just now" in said and "try again" in said and "999" in said
        server.start()
        sid = session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER)
        assert Session(rules, "cdrp", sid, open_store(server.url)).answers == {first.id: True}
        second = rules.next_question("cdrp", {first.id: True})
        assert second is not None
        runner.say("skip")  # the same answer, once the server is back
        answers = Session(rules, "cdrp", sid, open_store(server.url)).answers
        assert answers == {first.id: True, second.id: None}
    finally:
        runner.stop()
        server.kill()
