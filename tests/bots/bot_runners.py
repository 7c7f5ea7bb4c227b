"""Running the real bots against the fakes, one turn at a time (used by the fixtures)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot_fakes import (
    ALLOWED_TEAM,
    ALLOWED_TG,
    ALLOWED_USER,
    SALT,
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    TELEGRAM_TOKEN,
    Call,
    FakeSlack,
    FakeTelegram,
    SlackRequests,
    keyboard_buttons,
    slack_buttons,
)
from telegram import Update
from telegram.ext import TypeHandler

from bots.config import slack_config, telegram_config
from bots.slack import SlackBot
from bots.telegram import build_application
from bots.telegram_server import UPDATES
from dvrules import DVRules, TinyDBStore


def base_env(store: Path) -> dict[str, str]:
    return {"DVRULES_ID_SALT": SALT, "DVRULES_DB": str(store)}


def telegram_env(store: Path, fake: FakeTelegram) -> dict[str, str]:
    return {
        **base_env(store),
        "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
        "DVRULES_TELEGRAM_ALLOWED_USERS": f"{ALLOWED_TG}, 99",
        "DVRULES_TELEGRAM_BASE_URL": fake.base_url,
    }


def slack_env(store: Path, fake: FakeSlack) -> dict[str, str]:
    return {
        **base_env(store),
        "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "DVRULES_SLACK_ALLOWED_TEAMS": ALLOWED_TEAM,
        "DVRULES_SLACK_ALLOWED_USERS": f"{ALLOWED_USER},U0OTHER",
        "DVRULES_SLACK_API_URL": fake.api_url,
    }


# ---------------------------------------------------------------------- Telegram


class TelegramRunner:
    """A real Application polling the fake; ``say`` and ``press`` run one turn each."""

    def __init__(self, fake: FakeTelegram, store: TinyDBStore, rules: DVRules, env: dict[str, str]):
        self.fake, self.store, self.rules, self.env = fake, store, rules, env
        self.app: Any = None

    async def start(self) -> None:
        self.app = build_application(telegram_config(self.env), self.rules, self.store)
        # Instrumentation, not a mock: a last handler group records each update as done, so a
        # test waits exactly until the bot has finished (all sends awaited) with one update.
        self.done: set[int] = set()
        self.app.add_handler(TypeHandler(Update, self._done), group=99)
        await self.app.initialize()
        if self.app.post_init:
            await self.app.post_init(self.app)
        await self.app.start()
        await self.app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=UPDATES)

    async def stop(self) -> None:
        await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()

    async def _done(self, update: Update, context: Any) -> None:
        self.done.add(update.update_id)

    async def until_done(
        self, update_id: int, mark: int, need: tuple[str, ...] | None, timeout: float = 10
    ) -> list[Call]:
        """The calls the bot made for one update: until it is done, or (for an update the gate
        stops, which never reaches the last group) until a ``need`` call and quiet."""
        if need is not None:
            return await self.fake.settle(mark, need)
        for _ in range(int(timeout * 100)):
            if update_id in self.done:
                return self.fake.since(mark)
            await asyncio.sleep(0.01)
        raise AssertionError(f"update {update_id} was not handled within {timeout:g} s")

    async def say(
        self,
        text: str,
        user: int = ALLOWED_TG,
        chat_type: str = "private",
        need: tuple[str, ...] | None = None,
    ) -> list[Call]:
        mark = self.fake.mark()
        return await self.until_done(self.fake.push_text(user, text, chat_type), mark, need)

    async def press(
        self,
        payload: str,
        user: int = ALLOWED_TG,
        message_id: int | None = None,
        need: tuple[str, ...] | None = None,
        timeout: float = 10,
    ) -> list[Call]:
        mark = self.fake.mark()
        return await self.until_done(
            self.fake.push_button(user, payload, message_id), mark, need, timeout
        )

    async def press_label(
        self, label: str, user: int = ALLOWED_TG, timeout: float = 10
    ) -> list[Call]:
        """Press the button whose label starts with ``label`` on the latest keyboard."""
        msg = self.fake.last_keyboard_message()
        for bt in keyboard_buttons(msg):
            if bt["text"].startswith(label):
                return await self.press(
                    bt["callback_data"], user, msg["message_id"], timeout=timeout
                )
        raise AssertionError(f"no button {label!r} in {[b['text'] for b in keyboard_buttons(msg)]}")


# ---------------------------------------------------------------------- Slack


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass


class _CountedSlackBot(SlackBot):
    """Instrumentation, not a mock: counts finished turns so a test waits exactly for one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.turns = 0
        self.turned = threading.Condition()

    def _turn(self, *args: Any, **kwargs: Any) -> None:
        try:
            super()._turn(*args, **kwargs)
        finally:
            with self.turned:
                self.turns += 1
                self.turned.notify_all()


class SlackRunner:
    """The real Bolt app behind its WSGI adapter, served on a free port."""

    def __init__(self, fake: FakeSlack, store: TinyDBStore, rules: DVRules, env: dict[str, str]):
        self.fake, self.store = fake, store
        self.bot = _CountedSlackBot(slack_config(env), rules, store)
        self.server = make_server(
            "127.0.0.1",
            0,
            self.bot.wsgi(),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.requests = SlackRequests(self.url + "/slack/events", fake, ALLOWED_TEAM)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _turn(self, send: Any, timeout: float = 10) -> list[Call]:
        mark = self.fake.mark()
        with self.bot.turned:
            before = self.bot.turns
        status, _ = send()
        assert status == 200
        with self.bot.turned:
            if not self.bot.turned.wait_for(lambda: self.bot.turns > before, timeout=timeout):
                raise AssertionError(f"the Slack bot did not finish a turn within {timeout:g} s")
        return self.fake.since(mark)

    def command(self, text: str = "", user: str = ALLOWED_USER, **kw: Any) -> list[Call]:
        return self._turn(lambda: self.requests.command(user, text, **kw))

    def say(self, text: str, user: str = ALLOWED_USER, **kw: Any) -> list[Call]:
        return self._turn(lambda: self.requests.event(user, text, **kw))

    def press(self, value: str, user: str = ALLOWED_USER, **kw: Any) -> list[Call]:
        return self._turn(lambda: self.requests.action(user, value, **kw))

    def press_label(self, label: str, user: str = ALLOWED_USER, timeout: float = 10) -> list[Call]:
        msg = self.fake.last_with_buttons()
        for bt in slack_buttons(msg):
            if bt["text"]["text"].startswith(label):
                return self._turn(
                    lambda: self.requests.action(
                        user, bt["value"], message=msg, action_id=bt["action_id"]
                    ),
                    timeout,
                )
        raise AssertionError(f"no button {label!r}")

    def open_home(self, user: str = ALLOWED_USER) -> dict[str, Any]:
        """Open the App Home tab; returns the view the bot published."""
        mark = self.fake.mark()
        status, _ = self.requests.post(self.requests.home_opened_body(user), "application/json")
        assert status == 200
        self.fake.settle_sync(mark, ("views.publish",))
        return self.fake.home[user]

    def press_label_in_home(self, label: str, user: str = ALLOWED_USER) -> list[Call]:
        """Press a button of the App Home tab, by the start of its label."""
        for bt in slack_buttons(self.fake.home[user]):
            if bt["text"]["text"].startswith(label):
                body = self.requests.home_action_body(user, bt["action_id"], bt["value"])
                return self._turn(
                    lambda: self.requests.post(body, "application/x-www-form-urlencoded")
                )
        raise AssertionError(f"no button {label!r} in App Home")
