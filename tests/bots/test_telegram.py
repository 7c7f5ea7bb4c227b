"""The Telegram bot: the real python-telegram-bot Application polling a fake Bot API."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import CDRP_SCRIPT, drive_telegram, referral_script, telegram_plain
from bot_fakes import ALLOWED_TG, SALT, STRANGER_TG, keyboard_buttons
from bot_runners import TelegramRunner, telegram_env

from dvrules.chat import legacy_render as render
from bots import telegram as tg_bot
from dvrules.chat.legacy import PRIVATE_ONLY, REFUSED, session_id
from dvrules import DVRules, Session, TinyDBStore

SID = session_id("tg", SALT, str(ALLOWED_TG))


def texts(calls: list[Any], method: str = "sendMessage") -> list[str]:
    return [c.params["text"] for c in calls if c.method == method]


def snapshot(store_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(store_path.glob("*.json"))}


async def test_start_says_999_and_no_identifying_details_and_lists_flows(
        telegram: TelegramRunner, rules: DVRules) -> None:
    calls = await telegram.say("/start")
    [text] = texts(calls)
    plain = telegram_plain(text)
    assert "In immediate danger: call 999." in plain
    assert "do not enter names" in plain
    labels = [b["text"] for b in keyboard_buttons(telegram.fake.messages[max(telegram.fake.messages)])]
    assert labels == [render.short_label(rules.kb.flow(f).title) for f in rules.kb.flows]
    commands = [c for c in telegram.fake.calls if c.method == "setMyCommands"]
    assert commands and "help" in commands[0].params["commands"]


async def test_cdrp_self_assessment_end_to_end(telegram: TelegramRunner, rules: DVRules,
                                               store: TinyDBStore) -> None:
    answers, calls = await drive_telegram(telegram, rules, "cdrp", CDRP_SCRIPT, "CDRP")
    sent = texts(calls)
    assert "That's all the questions I need." in telegram_plain(sent[0])
    expected = rules.assess("cdrp", answers)
    assert Session(rules, "cdrp", SID, store).result() == expected
    assert sent[1:] == _chunks(rules, expected)
    assert f"Level attained: {expected.summary['level_attained']}" in telegram_plain(sent[1])


def _chunks(rules: DVRules, result: Any) -> list[str]:
    return tg_bot.chunks(render.result_message(rules.kb, result, complete=True))


async def test_referral_conversation_end_to_end(telegram: TelegramRunner, rules: DVRules,
                                                store: TinyDBStore) -> None:
    if "referral" not in rules.kb.flows:
        pytest.skip("the referral flow is not in the knowledge yet")
    answers, calls = await drive_telegram(telegram, rules, "referral", referral_script(rules),
                                          rules.kb.flow("referral").title[:20])
    expected = rules.assess("referral", answers)
    assert Session(rules, "referral", SID, store).result() == expected
    assert texts(calls)[1:] == _chunks(rules, expected)


async def test_back_skip_why_summary_and_forget(telegram: TelegramRunner, rules: DVRules,
                                                store: TinyDBStore, store_path: Path) -> None:
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    first = rules.next_question("cdrp", {})
    assert first is not None and first.type == "yes_no"
    await telegram.press_label("Yes")
    second = rules.next_question("cdrp", {first.id: True})
    assert second is not None
    # back: the last answer is removed and its question asked again
    [text] = texts(await telegram.say("back"))
    assert first.text in telegram_plain(text) and "Going back" in text
    assert Session(rules, "cdrp", SID, store).answers == {}
    # the Back button does the same (nothing to go back to now)
    [text] = texts(await telegram.press_label("Back"))
    assert "no earlier question" in text
    # skip = don't know
    [text] = texts(await telegram.say("/skip"))
    assert Session(rules, "cdrp", SID, store).answers == {first.id: None}
    # help from the question's button: 999 first, and the question stays answerable
    question = telegram.fake.last_keyboard_message()
    [text] = texts(await telegram.press_label("Help"))
    assert telegram_plain(text).startswith("In immediate danger: call 999.")
    assert telegram.fake.messages[question["message_id"]].get("reply_markup")
    # summary: counts only, never the answers
    [text] = texts(await telegram.say("summary"))
    assert "1 question(s) answered (1 don't know)" in telegram_plain(text)
    # why N: the because and source of a result item
    result = rules.assess("cdrp", {first.id: None})
    item = render.result_items(result)[0]
    [text] = texts(await telegram.say("/why 1"))
    plain = telegram_plain(text)
    assert item.title in plain and render.source_line(rules.kb, item.source) in plain
    for line in item.because:
        assert line in plain
    [text] = texts(await telegram.say("why 999"))
    assert "numbered 1 to" in text
    # forget asks first; "No" keeps everything
    calls = await telegram.say("/forget")
    assert "Erase everything" in texts(calls)[0]
    await telegram.press_label("No, keep")
    assert store.load(SID) is not None
    await telegram.say("forget")
    calls = await telegram.press_label("Yes, erase now")
    assert "Erased" in texts(calls)[0]
    assert store.load(SID) is None and snapshot(store_path) == {}


async def test_cancel_keeps_answers_and_stops_taking_typed_text_as_answers(
        telegram: TelegramRunner, rules: DVRules, store: TinyDBStore) -> None:
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    await telegram.press_label("Yes")
    [text] = texts(await telegram.say("/cancel"))
    assert "Stopped" in text
    calls = await telegram.say("3")  # not an answer any more: the menu
    assert "Choose what to work on" in telegram_plain(texts(calls)[0])
    assert Session(rules, "cdrp", SID, store).answers == {"advocacy_service_independent": True}


async def test_a_user_not_on_the_allowlist_is_refused_and_nothing_changes(
        telegram: TelegramRunner, store_path: Path) -> None:
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    before = snapshot(store_path)
    assert len(before) == 1
    # a message from a stranger
    calls = await telegram.say("/start", user=STRANGER_TG, need=("sendMessage",))
    assert texts(calls) == [REFUSED]
    # a button press from a stranger, on a real button of the allowed user's message
    yes = next(b for b in keyboard_buttons(telegram.fake.last_keyboard_message())
               if b["text"] == "Yes")
    calls = await telegram.press(yes["callback_data"], user=STRANGER_TG,
                                 need=("answerCallbackQuery",))
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["text"] == REFUSED[:200]
    assert snapshot(store_path) == before


async def test_group_chats_are_refused(telegram: TelegramRunner, store_path: Path) -> None:
    calls = await telegram.say("/start", chat_type="group", need=("sendMessage",))
    assert texts(calls) == [PRIVATE_ONLY]
    assert snapshot(store_path) == {}


@pytest.mark.parametrize("data", [
    "garbage",
    "a|cdrp|00000000|y",  # a question that is not being asked (stale or forged)
    "a|nosuchflow|00000000|y",
    "f|nosuchflow",
    "x" * 64,
    "a|cdrp|{tag}|c7",  # a choice index on a yes/no question
    "t|cdrp|{tag}|3",  # a toggle on a yes/no question
    "a|cdrp|{tag}|m1",
    "fg|maybe",
    "n|rm -rf",
])
async def test_malformed_forged_or_stale_buttons_are_refused_politely(
        telegram: TelegramRunner, rules: DVRules, store_path: Path, data: str) -> None:
    from dvrules.chat.legacy import question_tag

    await telegram.say("/start")
    await telegram.press_label("CDRP")
    question_msg = telegram.fake.last_keyboard_message()
    first = rules.next_question("cdrp", {})
    assert first is not None
    calls = await telegram.press(data.format(tag=question_tag(first)),
                                 message_id=question_msg["message_id"])
    reply = telegram_plain(texts(calls)[-1])
    assert "nothing was changed" in reply or "didn't recognise" in reply
    assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {}
    # still working afterwards
    await telegram.press_label("Yes")
    assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {first.id: True}


async def test_an_old_button_cannot_answer_a_later_question(telegram: TelegramRunner,
                                                           rules: DVRules, store: TinyDBStore) -> None:
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    old = telegram.fake.last_keyboard_message()
    old_yes = next(b["callback_data"] for b in keyboard_buttons(old) if b["text"] == "Yes")
    await telegram.press(old_yes, message_id=old["message_id"])
    assert "reply_markup" not in telegram.fake.messages[old["message_id"]]  # buttons removed
    calls = await telegram.press(old_yes, message_id=old["message_id"])
    assert "earlier message, so nothing was changed" in telegram_plain(texts(calls)[-1])
    assert Session(rules, "cdrp", SID, store).answers == {"advocacy_service_independent": True}


async def test_a_bad_typed_answer_is_explained_without_echoing_it(telegram: TelegramRunner) -> None:
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    await telegram.press_label("Yes")
    [text] = texts(await telegram.say("about four <b>Jane</b>"))
    assert "couldn't read that" in text and "Jane" not in text
    assert "a number of 0 or more" in telegram_plain(text)


async def test_restart_mid_conversation_resumes_the_same_question(
        fake_telegram: Any, store_path: Path, rules: DVRules) -> None:
    env = telegram_env(store_path, fake_telegram)
    first = TelegramRunner(fake_telegram, TinyDBStore(store_path), rules, env)
    await first.start()
    await first.say("/start")
    await first.press_label("CDRP")
    await first.press_label("Yes")
    await first.say("3")
    await first.stop()
    answers = {"advocacy_service_independent": True, "advocates_fte": 3}
    third = rules.next_question("cdrp", answers)
    assert third is not None and third.type == "number"
    second = TelegramRunner(fake_telegram, TinyDBStore(store_path), rules, env)  # a new process
    await second.start()
    try:
        calls = await second.say("50")
        assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {
            **answers, third.id: 50}
        following = rules.next_question("cdrp", {**answers, third.id: 50})
        assert following is not None
        assert following.text in telegram_plain(texts(calls)[-1])
    finally:
        await second.stop()


async def test_a_result_over_4096_characters_is_split_between_items(
        telegram: TelegramRunner, rules: DVRules, store: TinyDBStore) -> None:
    # The answers come through the session API (as a restarted bot would find them).
    flow, answers = _long_result(rules)
    session = Session(rules, flow, SID, store)
    for qid, value in answers.items():
        session.answer(qid, value)
    calls = await telegram.say("result")
    sent = texts(calls)
    message = render.result_message(rules.kb, rules.assess(flow, answers),
                                    complete=rules.next_question(flow, answers) is None)
    whole = "\n\n".join(telegram_plain(t) for t in sent)
    assert len(render.plain_text(message.paragraphs)) > 4096
    assert len(sent) >= 2
    assert all(render.utf16_len(t) <= 4096 for t in sent)
    assert whole == render.plain_text(message.paragraphs)  # nothing lost, nothing added
    for p in message.paragraphs:  # every item whole in one message
        assert any(tg_bot.fmt(p) in t for t in sent)


def _long_result(rules: DVRules) -> tuple[str, dict[str, Any]]:
    """Answers whose result is over 4,096 characters: every question "don't know"."""
    for flow in ("bvpi225", "cdrp"):
        answers: dict[str, Any] = {}
        while (q := rules.next_question(flow, answers)) is not None:
            answers[q.id] = None
        result = rules.assess(flow, answers)
        text = render.plain_text(render.result_message(rules.kb, result, complete=True).paragraphs)
        if len(text) > 4096:
            return flow, answers
    raise AssertionError("no flow gives a long result")


async def test_photos_and_stickers_get_a_sentence_not_a_crash(telegram: TelegramRunner) -> None:
    update = telegram.fake.message_update(ALLOWED_TG, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "f", "file_unique_id": "u", "width": 1,
                                    "height": 1, "is_animated": False, "is_video": False,
                                    "type": "regular"}
    mark = telegram.fake.mark()
    telegram.fake._push(update)
    calls = await telegram.fake.settle(mark, ("sendMessage",))
    assert "only read typed answers" in texts(calls)[0]


async def test_webhook_mode_refuses_updates_without_the_secret_token(
        fake_telegram: Any, store_path: Path, rules: DVRules) -> None:
    from bot_fakes import free_port, http_post

    port = free_port()
    env = {**telegram_env(store_path, fake_telegram),
           "DVRULES_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
           "DVRULES_TELEGRAM_WEBHOOK_SECRET": "s3cret-token-of-the-webhook", "PORT": str(port)}
    app = tg_bot.build_application(tg_bot.telegram_config(env), rules,
                                     TinyDBStore(store_path))
    await app.initialize()
    await app.start()
    await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="telegram",
                                    webhook_url=env["DVRULES_TELEGRAM_WEBHOOK_URL"],
                                    secret_token=env["DVRULES_TELEGRAM_WEBHOOK_SECRET"])
    try:
        body = json.dumps({"update_id": 1, **fake_telegram.message_update(ALLOWED_TG, "/start")}).encode()
        url = f"http://127.0.0.1:{port}/telegram"
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            status, _ = await asyncio.to_thread(
                http_post, url, body, {"Content-Type": "application/json", **headers})
            assert status == 403
        assert not fake_telegram.since(0, "sendMessage")
        mark = fake_telegram.mark()
        status, _ = await asyncio.to_thread(
            http_post, url, body, {"Content-Type": "application/json",
                                   "X-Telegram-Bot-Api-Secret-Token": env["DVRULES_TELEGRAM_WEBHOOK_SECRET"]})
        assert status == 200
        calls = await fake_telegram.settle(mark, ("sendMessage",))
        assert "call 999" in texts(calls)[0]
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def test_logs_hold_no_typed_text_user_ids_or_tokens(
        telegram: TelegramRunner, caplog: pytest.LogCaptureFixture) -> None:
    from bots.config import quiet_libraries

    caplog.set_level(logging.DEBUG)
    quiet_libraries()  # as the bot's own start-up does
    await telegram.say("/start")
    await telegram.press_label("CDRP")
    await telegram.say("Jane Doe, 12 High Street")  # what nobody should type, but someone will
    await telegram.press_label("Yes")
    await telegram.say("3.5")
    await telegram.say("/start", user=STRANGER_TG, need=("sendMessage",))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "message handled" in logged
    for secret in ("Jane", "High Street", "3.5", str(ALLOWED_TG), str(STRANGER_TG), SALT,
                   telegram.env["TELEGRAM_BOT_TOKEN"], "advocacy_service_independent"):
        assert secret not in logged
