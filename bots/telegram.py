"""Telegram front-end (python-telegram-bot 22): private chats, inline buttons, typed answers.

Only translation lives here: an update becomes a ``Text`` or ``Press`` event for the
conversation core (``dvrules.chat``), and the core's actions become Bot API calls: send,
edit in place, strip a keyboard, delete. Every update first passes ``gate`` (group -1): a user
not on the allowlist, or a chat that is not private, gets one polite sentence and nothing is
stored. A person's typed messages are deleted once read, so case details do not stay in the
chat. State lives in the dvrules store, so a restarted bot continues the same question.

Run: ``python -m bots.telegram``: polling (the Procfile's ``worker``), or, when
DVRULES_TELEGRAM_WEBHOOK_URL is set, a webhook server on $PORT with ``GET /healthz`` (a
``web`` process). See docs/bots.md.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from telegram import Bot, BotCommand, InputFile, Update
from telegram import LinkPreviewOptions as Preview
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bots.config import (
    TelegramConfig,
    check,
    open_common_store,
    open_store_or_exit,
    setup_logging,
    telegram_config,
)
from bots.telegram_format import chunks, keyboard
from bots.telegram_server import OnePerChat, quiet_bot, run
from dvrules.api import DVRules, default_rules
from dvrules.chat import (
    EMERGENCY,
    FAILED,
    PRIVATE_ONLY,
    REFUSED,
    Conversation,
    Delete,
    Edit,
    Message,
    Press,
    Reply,
    Send,
    SendDocument,
    Strip,
    Text,
    menu_commands,
    session_id,
)
from dvrules.store import SessionStore

log = logging.getLogger("dvrules.telegram")

NO_PREVIEW = Preview(is_disabled=True)
TURN_THREADS = 32  # turns in flight: each thread mostly waits for the Bot API (I/O, not CPU)
NOT_TEXT = (
    "I can only read typed answers and button presses. Please don't send photos, files "
    "or voice messages here. " + EMERGENCY
)


class TelegramBot:
    """The allowlist gate, the handlers, and the carrying out of the core's actions."""

    def __init__(
        self,
        config: TelegramConfig,
        rules: DVRules | None = None,
        store: SessionStore | None = None,
    ):
        self.config = config
        self.rules = rules or default_rules(config.common.area)
        self.store = store if store is not None else open_common_store(config.common)
        self.conversation = Conversation(self.rules, self.store)
        self.pool = ThreadPoolExecutor(TURN_THREADS, "dvrules-turn")

    def build(self) -> Application:
        app = (
            ApplicationBuilder()
            .bot(quiet_bot(self.config, AIORateLimiter(max_retries=2)))
            .post_init(self._post_init)
            .concurrent_updates(OnePerChat())
            .build()
        )
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(MessageHandler(filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(filters.ALL, self.on_other))
        app.add_error_handler(self.on_error)
        return app

    async def _post_init(self, app: Application) -> None:
        await app.bot.set_my_commands([BotCommand(c, d) for c, d in menu_commands()])

    # -------------------------------------------------------------- handlers

    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Runs before every handler: allowlisted users in private chats only."""
        query, message = update.callback_query, update.message
        if query is None and message is None:
            raise ApplicationHandlerStop  # edited messages, unreadable updates...: not for us
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
        message = update.message
        assert message is not None and message.text is not None
        event = Text(message.text, message_id=str(message.message_id))
        try:
            await self.turn(context.bot, message.chat_id, self._sid(update), event)
        finally:  # what was typed leaves the chat (even if the turn failed): the card shows it
            try:
                await message.delete()
            except TelegramError:
                log.info("could not delete a typed message")

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and update.effective_chat is not None
        origin = str(query.message.message_id) if query.message is not None else None
        notice: str | None = None
        try:
            notice = await self.turn(
                context.bot,
                update.effective_chat.id,
                self._sid(update),
                Press(query.data, message_id=origin),
            )
        finally:  # every press is answered, even when the turn failed
            await query.answer(notice[:200] if notice else None)

    async def on_other(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.message is not None:
            await update.message.reply_text(NOT_TEXT)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err, where = context.error, ""
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

    # -------------------------------------------------------------- one turn

    async def turn(self, bot: Bot, chat_id: int, sid: str, event: Text | Press) -> str | None:
        """One core turn in a worker thread, which holds the session's lock from load to save
        while the Bot API calls run on the event loop; returns the core's notice."""
        loop = asyncio.get_running_loop()

        def call(coro: Coroutine[Any, Any, Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result()

        def work() -> str | None:
            with self.conversation.turn(sid, event) as reply:
                for is_delete, acts in itertools.groupby(
                    reply.actions, lambda a: isinstance(a, Delete)
                ):
                    if is_delete:
                        call(self.delete(bot, chat_id, [a.message_id for a in acts]))
                    else:
                        for act in acts:
                            call(self.act(bot, chat_id, reply, act))
                return reply.notice

        return await loop.run_in_executor(self.pool, work)

    async def act(self, bot: Bot, chat_id: int, reply: Reply, act: Any) -> None:
        if isinstance(act, Send):
            for message_id in await self.send(bot, chat_id, act.message):
                reply.sent(act, message_id)
        elif isinstance(act, Edit):
            if not await self.edit(bot, chat_id, int(act.message_id), act.message):
                await self.strip(bot, chat_id, int(act.message_id))
                for message_id in await self.send(bot, chat_id, act.message):
                    reply.sent(act, message_id)
        elif isinstance(act, Strip):
            await self.strip(bot, chat_id, int(act.message_id))
        elif isinstance(act, SendDocument):
            sent = await bot.send_document(
                chat_id, InputFile(act.data, filename=act.name), protect_content=act.protect
            )
            reply.sent(act, sent.message_id)

    async def send(self, bot: Bot, chat_id: int, msg: Message) -> list[int]:
        """The message in as few parts as fit, buttons under the last; their ids."""
        parts = chunks(msg)
        sent = [
            await bot.send_message(
                chat_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(msg) if n == len(parts) - 1 else None,
                link_preview_options=NO_PREVIEW,
                protect_content=msg.protect,
            )
            for n, text in enumerate(parts)
        ]
        return [m.message_id for m in sent]

    async def edit(self, bot: Bot, chat_id: int, message_id: int, msg: Message) -> bool:
        """Change a message in place; False if it cannot be (gone, too old, too long)."""
        parts = chunks(msg)
        if len(parts) != 1:
            return False
        try:
            await bot.edit_message_text(
                parts[0],
                chat_id,
                message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=keyboard(msg),
                link_preview_options=NO_PREVIEW,
            )
        except BadRequest as err:
            return "not modified" in str(err).lower()  # the same content is already there
        except TelegramError:
            return False
        return True

    async def strip(self, bot: Bot, chat_id: int, message_id: int) -> None:
        try:
            await bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
        except TelegramError:
            log.info("could not remove old buttons (gone, or already without)")

    async def delete(self, bot: Bot, chat_id: int, message_ids: list[str]) -> None:
        ids = [int(m) for m in message_ids]
        for start in range(0, len(ids), 100):  # deleteMessages takes up to 100 at once
            try:
                await bot.delete_messages(chat_id, ids[start : start + 100])
            except TelegramError:
                log.info("could not delete some messages (too old, or gone)")


def build_application(
    config: TelegramConfig, rules: DVRules | None = None, store: SessionStore | None = None
) -> Application:
    return TelegramBot(config, rules, store).build()


def main() -> None:
    config = check(telegram_config, "dvrules telegram")
    setup_logging(config.common.log_level)
    run(
        build_application(config, store=open_store_or_exit(config.common, "dvrules telegram")),
        config,
    )


if __name__ == "__main__":
    main()
