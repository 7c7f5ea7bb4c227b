"""How the Telegram bot receives updates, with nothing of them in the logs.

Polling (the Procfile's ``worker``): ``QuietBot`` reads each update on its own, so one that
python-telegram-bot cannot read is dropped with a line that holds nothing of it (PTB would log
the whole update, user id, name and text, at CRITICAL, and fetch the same batch again forever).
Webhook (a ``web`` process): a small tornado server on $PORT takes updates on the webhook URL's
path (the secret header checked) and answers ``GET /healthz`` for the platform. Several such
processes can run behind one URL when they share a store (``DVRULES_STORE=redis://...``): an
update Telegram delivers again (after a slow answer) is handled once, by whichever process got
it first, as the store remembers the update ids it has seen.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import signal
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlparse

import tornado.httpserver
import tornado.web
from telegram import Bot, TelegramObject, Update
from telegram.ext import Application, BaseUpdateProcessor, ExtBot
from telegram.request import HTTPXRequest

from bots.config import TelegramConfig, open_common_store
from dvrules.store import SeenRequests, StoreError, seen_requests

log = logging.getLogger("dvrules.telegram")

UPDATES = ["message", "callback_query"]
MAX_UPDATE_BYTES = 1 << 20
UPDATE_MEMORY_SECONDS = 24 * 3600  # Telegram keeps an undelivered update for up to a day


class _NoUpdates(logging.Filter):
    """Some of python-telegram-bot's log lines carry a whole update (user id, name, text) as an
    argument; this puts a placeholder in its place, whatever the level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                "<update withheld>" if isinstance(a, (TelegramObject, dict, list)) else a
                for a in record.args
            )
        return True


NO_UPDATES = _NoUpdates()
PTB_LOGGERS = (
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.ext.Application",
    "telegram.ext.Updater",
    "telegram.ext",
    "telegram",
)


def keep_updates_out_of_logs() -> None:
    for name in PTB_LOGGERS:  # a logger's filter sees only the records made on that logger
        logging.getLogger(name).addFilter(NO_UPDATES)


def read_update(data: Any, bot: Bot) -> Update | None:
    """The update python-telegram-bot reads from ``data``; None (and a log line that holds
    nothing of it: PTB would log it whole at CRITICAL) if it cannot read it."""
    try:
        update = Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - any parse failure is the same to us
        update = None
    if update is None:
        log.warning("dropped an update that could not be read")
    return update


def readable(data: Any, bot: Bot) -> dict[str, Any] | None:
    """A polled update PTB can read, as it came; else only its id, so polling moves past it."""
    if read_update(data, bot) is not None:
        return data  # type: ignore[no-any-return]
    if isinstance(data, dict) and isinstance(data.get("update_id"), int):
        return {"update_id": data["update_id"]}
    return None


class QuietBot(ExtBot[None]):
    """Reads each polled update on its own: one unreadable update is dropped, not logged,
    and does not hold up the rest (PTB would retry the whole batch)."""

    async def _post(self, endpoint: str, *args: Any, **kwargs: Any) -> Any:
        result = await super()._post(endpoint, *args, **kwargs)
        if endpoint == "getUpdates" and isinstance(result, list):
            result = [u for u in (readable(d, self) for d in result) if u is not None]
        return result


def quiet_bot(config: TelegramConfig, rate_limiter: Any) -> QuietBot:
    """The bot the application sends and polls with, its updates kept out of the logs."""
    keep_updates_out_of_logs()
    return QuietBot(
        config.token,
        base_url=config.base_url or "https://api.telegram.org/bot",
        request=HTTPXRequest(connection_pool_size=256),
        get_updates_request=HTTPXRequest(),
        rate_limiter=rate_limiter,
    )


def run(app: Application, config: TelegramConfig) -> None:
    """Polling (a ``worker``), or a webhook server when DVRULES_TELEGRAM_WEBHOOK_URL is set."""
    if config.webhook_url:
        log.info("Telegram bot starting (webhook mode, web process)")
        asyncio.run(serve_webhook(app, config))
    else:
        log.info("Telegram bot starting (polling)")
        app.run_polling(allowed_updates=UPDATES)
    log.info("Telegram bot stopped")


class _Updates(tornado.web.RequestHandler):
    """Telegram posts updates here; the secret header is checked in constant time."""

    def initialize(self, app: Application, secret: str, seen: SeenRequests, bot_id: str) -> None:
        self.app, self.secret, self.seen, self.bot_id = app, secret, seen, bot_id

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        try:
            data = json.loads(self.request.body)
        except (ValueError, RecursionError):
            self.set_status(400)
            return
        update = read_update(data, self.app.bot)  # parsed once, then queued as it is
        if update is not None and len(data) > 1 and self._first_time(update.update_id):
            await self.app.update_queue.put(update)

    def _first_time(self, update_id: object) -> bool:
        """Whether no process sharing the store has taken this update yet. If the store cannot
        be reached the update goes on: its turn then says the store has a problem."""
        try:
            return self.seen.first_time(
                [f"tg:{self.bot_id}:update:{update_id}"], UPDATE_MEMORY_SECONDS
            )
        except StoreError as exc:
            log.warning("cannot check for a repeated update: %s", exc)
            return True


class _Health(tornado.web.RequestHandler):
    def initialize(self, app: Application) -> None:
        self.app = app

    def get(self) -> None:
        self.set_status(200 if self.app.running else 503)
        self.write({"ok": self.app.running})


async def serve_webhook(
    app: Application,
    config: TelegramConfig,
    listen: str = "0.0.0.0",
    seen: SeenRequests | None = None,
) -> None:
    """Webhook mode as the web process, until SIGTERM or SIGINT: updates on the webhook URL's
    path, ``GET /healthz`` for the platform (bound first, 503 until the bot is running).
    ``seen`` remembers update ids (default: the configured store's shared memory)."""
    assert config.webhook_url and config.webhook_secret
    if seen is None:
        seen = seen_requests(open_common_store(config.common))
    bot_id = config.token.split(":", 1)[0]  # the bot's public id, so bots can share a store
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    path = "/" + urlparse(config.webhook_url).path.lstrip("/")
    server = tornado.httpserver.HTTPServer(
        tornado.web.Application(
            [
                ("/healthz", _Health, {"app": app}),
                (
                    re.escape(path),
                    _Updates,
                    {
                        "app": app,
                        "secret": config.webhook_secret,
                        "seen": seen,
                        "bot_id": bot_id,
                    },
                ),
            ]
        ),
        max_body_size=MAX_UPDATE_BYTES,
    )  # an update is a few kilobytes; refuse floods
    server.listen(config.port or 8443, listen)
    async with app:  # initialize, and shutdown at the end
        if app.post_init:
            await app.post_init(app)
        await app.bot.set_webhook(
            config.webhook_url, secret_token=config.webhook_secret, allowed_updates=UPDATES
        )
        await app.start()
        await stop.wait()
        server.stop()
        await app.stop()


# Never reached in practice, so no update waits for a slot and each chat's order is kept (see
# ``OnePerChat``); the bot's turn threads are what bound the work.
MAX_PENDING_UPDATES = 100_000


class OnePerChat(BaseUpdateProcessor):
    """Updates of different chats at once, each chat's one at a time in the order they came.

    python-telegram-bot processes updates one after another by default, so one person's turn
    (and its Bot API round trips) held up everyone else's. A person still gets their updates
    handled strictly in order, as before: each chat's updates queue on that chat's lock (FIFO),
    taken in the order PTB starts their tasks, which is the order they arrived.
    """

    def __init__(self, max_concurrent_updates: int = MAX_PENDING_UPDATES):
        super().__init__(max_concurrent_updates)
        self._chats: dict[int, tuple[asyncio.Lock, int]] = {}  # lock, updates holding it or queued

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock, users = self._chats.get(chat.id) or (asyncio.Lock(), 0)
        self._chats[chat.id] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._chats[chat.id]
            if users == 1:
                del self._chats[chat.id]
            else:
                self._chats[chat.id] = (lock, users - 1)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
