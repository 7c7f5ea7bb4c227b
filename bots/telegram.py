"""Telegram front-end (python-telegram-bot 22): private chats, inline buttons, typed answers.

Only translation lives here: an update becomes ``Conversation.text`` or ``Conversation.button``
and the returned Turn becomes Telegram messages (HTML, every span escaped, split under 4,096
characters). Every update first passes ``gate`` (group -1): a user not on the allowlist, or a
chat that is not private, gets one polite sentence and nothing is stored. State lives in the
dvrules store, so a restarted bot continues the same question.

Run: ``python -m bots.telegram`` (polling; webhook mode when DVRULES_TELEGRAM_WEBHOOK_URL is set).
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import signal
from typing import Any
from urllib.parse import urlparse

import tornado.httpserver
import tornado.web

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, MessageLimit, ParseMode
from telegram.error import TelegramError
from telegram.request import HTTPXRequest
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from dvrules.api import DVRules, default_rules
from dvrules.store import SessionStore, TinyDBStore

from bots import render
from bots.config import (
    TelegramConfig,
    check,
    open_store_or_exit,
    setup_logging,
    telegram_config,
)
from bots.conversation import FAILED, PRIVATE_ONLY, REFUSED, Conversation, log_id, session_id
from bots.render import OutMessage, Paragraph, Turn

log = logging.getLogger("dvrules.telegram")

UPDATES = ["message", "callback_query"]
COMMANDS = [
    ("start", "choose an assessment, or carry on"),
    ("help", "commands, and in immediate danger call 999"),
    ("back", "go back to the previous question"),
    ("skip", "answer don't know"),
    ("summary", "how far you have got"),
    ("result", "the result so far"),
    ("why", "why item N of the result is as it is"),
    ("cancel", "stop for now"),
    ("forget", "erase everything this chat has stored"),
]
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def fmt(p: Paragraph) -> str:
    """A paragraph as Telegram HTML: every span escaped, then styled."""
    out = []
    for s in p:
        text = html.escape(s.text, quote=False)
        if s.bold:
            text = f"<b>{text}</b>"
        if s.italic:
            text = f"<i>{text}</i>"
        out.append(text)
    return "".join(out)


def chunks(msg: OutMessage) -> list[str]:
    return render.pack(msg.paragraphs, MessageLimit.MAX_TEXT_LENGTH, fmt, render.utf16_len)


def keyboard(msg: OutMessage) -> InlineKeyboardMarkup | None:
    if not msg.buttons:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(bt.label, callback_data=bt.payload)
                                  for bt in row] for row in msg.buttons])


class TelegramBot:
    """The allowlist gate, the handlers, and the sending of Turns."""

    def __init__(self, config: TelegramConfig, rules: DVRules | None = None,
                 store: SessionStore | None = None):
        self.config = config
        self.rules = rules or default_rules(config.common.area)
        self.store = store if store is not None else TinyDBStore(config.common.store_dir)
        self.conversation = Conversation(self.rules, self.store)

    def build(self) -> Application:
        bot = QuietBot(self.config.token, base_url=self.config.base_url or "https://api.telegram.org/bot",
                       request=HTTPXRequest(connection_pool_size=256),
                       get_updates_request=HTTPXRequest(),
                       rate_limiter=AIORateLimiter(max_retries=2))
        app = ApplicationBuilder().bot(bot).post_init(self._post_init).build()
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(filters.ALL, self.on_other))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])

    # -------------------------------------------------------------- handlers

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs before every handler: allowlisted users in private chats only."""
        query, message = update.callback_query, update.message
        if query is None and message is None:
            raise ApplicationHandlerStop  # edited messages, channel posts...: not for us
        user, chat = update.effective_user, update.effective_chat
        if user is None or user.id not in self.config.allowed_users:
            log.info("refused an update from a user not on the allowlist")
            await self._refuse(update, REFUSED)
            raise ApplicationHandlerStop
        if chat is None or chat.type != ChatType.PRIVATE:
            log.info("refused an update from a chat that is not private")
            await self._refuse(update, PRIVATE_ONLY)
            raise ApplicationHandlerStop

    async def _refuse(self, update: Update, sentence: str) -> None:
        try:
            if update.callback_query is not None:
                await update.callback_query.answer(sentence[:200], show_alert=True)
            elif update.message is not None:
                await update.message.reply_text(sentence)
        except TelegramError:
            log.warning("could not send a refusal")

    def _sid(self, update: Update) -> str:
        assert update.effective_user is not None
        return session_id("tg", self.config.common.id_salt, str(update.effective_user.id))

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        sid = self._sid(update)
        turn = await asyncio.to_thread(self.conversation.text, sid, update.message.text)
        log.info("message handled (session %s)", log_id(sid))
        await self.send(context.bot, update.message.chat_id, turn, origin=None)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        sid = self._sid(update)
        turn = await asyncio.to_thread(self.conversation.button, sid, query.data)
        log.info("button handled (session %s)", log_id(sid))
        origin = query.message if isinstance(query.message, Message) else None
        assert update.effective_chat is not None
        await self.send(context.bot, update.effective_chat.id, turn, origin=origin)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            await update.message.reply_text(
                "I can only read typed answers and button presses. Please don't send photos, "
                "files or voice messages here. " + render.EMERGENCY)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        where = ""
        if err is not None and err.__traceback__ is not None:
            tb = err.__traceback__
            while tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        # The exception's message is not logged: it could quote what someone typed.
        log.error("error %s%s", type(err).__name__, where)
        if isinstance(update, Update) and update.effective_chat is not None:
            try:
                await context.bot.send_message(update.effective_chat.id, FAILED)
            except TelegramError:
                pass

    # -------------------------------------------------------------- sending

    async def send(self, bot: Bot, chat_id: int, turn: Turn, origin: Message | None) -> None:
        if origin is not None and turn.replace_origin is not None:
            parts = chunks(turn.replace_origin)
            if len(parts) == 1:
                try:
                    await origin.edit_text(parts[0], parse_mode=ParseMode.HTML,
                                           reply_markup=keyboard(turn.replace_origin),
                                           link_preview_options=NO_PREVIEW)
                except TelegramError:
                    log.info("could not edit a message (too old, or unchanged)")
            else:
                turn.messages.insert(0, turn.replace_origin)
        elif origin is not None and turn.close_origin and origin.reply_markup is not None:
            try:
                await origin.edit_reply_markup(reply_markup=None)
            except TelegramError:
                log.info("could not remove old buttons (message too old)")
        for msg in turn.messages:
            parts = chunks(msg)
            for n, text in enumerate(parts):
                last = n == len(parts) - 1
                await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                       reply_markup=keyboard(msg) if last else None,
                                       link_preview_options=NO_PREVIEW)


def readable(data: Any, bot: Bot) -> dict[str, Any] | None:
    """An update python-telegram-bot can read, as it came; else only its id (so polling moves
    past it) and a log line that holds nothing of it: PTB would log it whole at CRITICAL."""
    try:
        if Update.de_json(data, bot) is not None:
            return data  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - any parse failure is the same to us
        pass
    log.warning("dropped an update that could not be read")
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


class _Updates(tornado.web.RequestHandler):
    """Telegram posts updates here; the secret header is checked in constant time."""

    def initialize(self, app: Application, secret: str) -> None:
        self.app, self.secret = app, secret

    async def post(self) -> None:
        given = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        try:
            data = json.loads(self.request.body)
        except ValueError:
            self.set_status(400)
            return
        update = readable(data, self.app.bot)
        if update is not None and len(update) > 1:
            await self.app.update_queue.put(Update.de_json(update, self.app.bot))


class _Health(tornado.web.RequestHandler):
    def initialize(self, app: Application) -> None:
        self.app = app

    def get(self) -> None:
        self.set_status(200 if self.app.running else 503)
        self.write({"ok": self.app.running})


async def start_webhook(app: Application, config: TelegramConfig,
                        listen: str = "0.0.0.0") -> tornado.httpserver.HTTPServer:
    """Webhook mode as the web process: updates on the webhook URL's path, and GET /healthz."""
    assert config.webhook_url and config.webhook_secret
    path = "/" + urlparse(config.webhook_url).path.lstrip("/")
    server = tornado.httpserver.HTTPServer(tornado.web.Application([
        ("/healthz", _Health, {"app": app}),
        (path, _Updates, {"app": app, "secret": config.webhook_secret})]))
    server.listen(config.port or 8443, listen)
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    await app.bot.set_webhook(config.webhook_url, secret_token=config.webhook_secret,
                              allowed_updates=UPDATES)
    await app.start()
    return server


async def stop_webhook(app: Application, server: tornado.httpserver.HTTPServer) -> None:
    server.stop()
    await app.stop()
    await app.shutdown()


async def _serve_webhook(app: Application, config: TelegramConfig) -> None:
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    server = await start_webhook(app, config)
    await stop.wait()
    await stop_webhook(app, server)


def build_application(config: TelegramConfig, rules: DVRules | None = None,
                      store: SessionStore | None = None) -> Application:
    return TelegramBot(config, rules, store).build()


def main() -> None:
    config = check(telegram_config, "dvrules telegram")
    setup_logging(config.common.log_level)
    app = build_application(config, store=open_store_or_exit(config.common, "dvrules telegram"))
    if config.webhook_url:
        log.info("Telegram bot starting (webhook mode)")
        asyncio.run(_serve_webhook(app, config))
    else:
        log.info("Telegram bot starting (polling)")
        app.run_polling(allowed_updates=UPDATES)
    log.info("Telegram bot stopped")


if __name__ == "__main__":
    main()
