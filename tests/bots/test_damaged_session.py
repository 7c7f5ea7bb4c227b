"""A damaged session file in every channel: the person is told, is not locked out, and can
erase it themselves (Telegram and Slack through the real client libraries against fakes of
their APIs; the terminal chat through the same conversation core, without buttons)."""

from __future__ import annotations

from pathlib import Path

from bot_drivers import slack_plain, telegram_plain
from bot_fakes import ALLOWED_TEAM, ALLOWED_TG, ALLOWED_USER, SALT
from bot_runners import SlackRunner, TelegramRunner

from dvrules import DVRules, Session, TinyDBStore
from dvrules.chat import Conversation, session_id

TG_SID = session_id("tg", SALT, str(ALLOWED_TG))
SL_SID = session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER)


def _damage(store: TinyDBStore, sid: str, rules: DVRules) -> None:
    Session(rules, "cdrp", sid, store).answer("advocacy_service_independent", True)
    store._path(sid).write_bytes(b'{"session": {"1": {"flows": \xff')


async def test_telegram_says_the_session_is_damaged_and_erases_it_on_request(
    telegram: TelegramRunner, store: TinyDBStore, rules: DVRules
) -> None:
    _damage(store, TG_SID, rules)
    calls = await telegram.say("/start")
    said = "\n".join(telegram_plain(c.params["text"]) for c in calls if c.method == "sendMessage")
    assert "damaged" in said and "forget now" in said and "999" in said
    assert store._path(TG_SID).exists()  # nothing erased without asking
    await telegram.press_label("Yes, erase now")
    assert store.load(TG_SID) is None
    calls = await telegram.say("/start")
    assert "damaged" not in "\n".join(
        telegram_plain(c.params["text"]) for c in calls if "text" in c.params
    )


def test_slack_says_the_session_is_damaged_and_erases_it_on_request(
    slack: SlackRunner, store: TinyDBStore, rules: DVRules
) -> None:
    _damage(store, SL_SID, rules)
    calls = slack.say("start")
    said = "\n".join(
        slack_plain(c.params["blocks"]) for c in calls if c.method == "chat.postMessage"
    )
    assert "damaged" in said and "forget now" in said and "999" in said
    assert store._path(SL_SID).exists()
    slack.press_label("Yes, erase now")
    assert store.load(SL_SID) is None


def test_the_terminal_chat_hint_names_what_to_type_not_a_button(
    store_path: Path, store: TinyDBStore, rules: DVRules
) -> None:
    _damage(store, "case-bad", rules)
    terminal = Conversation(rules, store, paged=False)
    said = " ".join(m.plain() for m in terminal.text("case-bad", "yes").messages)
    assert "damaged" in said and "type forget now" in said and "button" not in said
    erased = terminal.text("case-bad", "forget now")
    assert erased.forgotten and store.load("case-bad") is None
