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
import html
import logging
from urllib.parse import urlparse

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
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from dvrules.api import DVRules, default_rules
from dvrules.store import SessionStore, TinyDBStore

from dvrules.chat import legacy_render as render
from bots.config import (
    TelegramConfig,
    check,
    open_store_or_exit,
    setup_logging,
    telegram_config,
)
from dvrules.chat.legacy import FAILED, PRIVATE_ONLY, REFUSED, Conversation, log_id, session_id
from dvrules.chat.messages import OutMessage, Paragraph, Turn

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
        builder = ApplicationBuilder().token(self.config.token).post_init(self._post_init)
        if self.config.base_url:
            builder = builder.base_url(self.config.base_url)
        app = builder.build()
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


def build_application(config: TelegramConfig, rules: DVRules | None = None,
                      store: SessionStore | None = None) -> Application:
    return TelegramBot(config, rules, store).build()


def main() -> None:
    config = check(telegram_config, "dvrules telegram")
    setup_logging(config.common.log_level)
    app = build_application(config, store=open_store_or_exit(config.common, "dvrules telegram"))
    if config.webhook_url:
        log.info("Telegram bot starting (webhook mode)")
        app.run_webhook(listen="0.0.0.0", port=config.port or 8443,
                        url_path=urlparse(config.webhook_url).path.lstrip("/"),
                        webhook_url=config.webhook_url, secret_token=config.webhook_secret,
                        allowed_updates=UPDATES)
    else:
        log.info("Telegram bot starting (polling)")
        app.run_polling(allowed_updates=UPDATES)
    log.info("Telegram bot stopped")


if __name__ == "__main__":
    main()
