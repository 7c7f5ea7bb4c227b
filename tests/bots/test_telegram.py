"""The Telegram bot: the real python-telegram-bot Application polling a fake Bot API.

What a person on a phone relies on: danger answered first, one question card edited in place,
a short first result with the rest behind buttons, typed answers gone from the chat, every
button press answered, forget deleting what the bot sent; and for the deployer: a webhook
``web`` process with /healthz, and nothing of any update in the logs.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import CDRP_SCRIPT, drive_telegram, referral_script, telegram_plain
from bot_fakes import (
    ALLOWED_TG,
    SALT,
    STRANGER_TG,
    TELEGRAM_TOKEN,
    Call,
    count_methods,
    free_port,
    http_get,
    http_post,
    keyboard_buttons,
)
from bot_runners import TelegramRunner, telegram_env
from telegram.ext import AIORateLimiter

from bots import telegram as tg_bot
from bots import telegram_format as tg_format
from bots.config import quiet_libraries
from dvrules import DVRules, Session, TinyDBStore
from dvrules.audit import render
from dvrules.chat import PRIVATE_ONLY, REFUSED, Message, menu_commands, par, session_id

ROOT = Path(__file__).resolve().parents[2]
SID = session_id("tg", SALT, str(ALLOWED_TG))


def texts(calls: list[Call], *methods: str) -> list[str]:
    return [
        c.params["text"]
        for c in calls
        if c.method in (methods or ("sendMessage",)) and "text" in c.params
    ]


def shown(calls: list[Call]) -> str:
    """Everything the bot wrote or rewrote in these calls, as plain text."""
    return "\n".join(telegram_plain(t) for t in texts(calls, "sendMessage", "editMessageText"))


def snapshot(store_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(store_path.glob("*.json"))}


async def start(tg: TelegramRunner, label: str = "CDRP") -> list[Call]:
    await tg.say("/start")
    return await tg.press_label(label)


# ---------------------------------------------------------------------- start and the menu


async def test_start_says_999_asks_for_no_identifying_details_and_sets_the_command_menu(
    telegram: TelegramRunner, rules: DVRules
) -> None:
    [text] = texts(await telegram.say("/start"))
    plain = telegram_plain(text)
    assert "In immediate danger: call 999." in plain and "do not enter names" in plain
    labels = [b["text"] for b in keyboard_buttons(telegram.fake.last_keyboard_message())]
    assert len(labels) == len(rules.kb.flows) and any(x.startswith("CDRP") for x in labels)
    [menu] = [c for c in telegram.fake.calls if c.method == "setMyCommands"]
    assert [
        (c["command"], c["description"]) for c in json.loads(menu.params["commands"])
    ] == menu_commands()


def test_sending_is_rate_limited(
    telegram_config_env: dict[str, str], rules: DVRules, store: TinyDBStore
) -> None:
    app = tg_bot.build_application(tg_bot.telegram_config(telegram_config_env), rules, store)
    assert isinstance(app.bot.rate_limiter, AIORateLimiter)


@pytest.fixture
def telegram_config_env(fake_telegram: Any, store_path: Path) -> dict[str, str]:
    return telegram_env(store_path, fake_telegram)


# ---------------------------------------------------------------------- safety first


@pytest.mark.parametrize("how", ["button", "typed"])
async def test_immediate_danger_yes_is_answered_with_999_before_anything_else(
    telegram: TelegramRunner, rules: DVRules, how: str
) -> None:
    await start(telegram, rules.kb.flow("referral").title[:20])
    answers: dict[str, Any] = {}
    script = referral_script(rules)
    while (
        q := rules.next_question("referral", answers)
    ) is not None and q.id != "immediate_danger":
        card = telegram.fake.last_keyboard_message()
        value = script.get(q.id)
        if q.type == "choice" and value is not None:
            await telegram.press_label(f"{[c.id for c in q.choices].index(value) + 1}. ")
        elif q.type in ("integer", "number") and value is not None:
            await telegram.say(str(value))
        else:
            await telegram.press_label("Don't know")
        assert telegram.fake.last_keyboard_message()["message_id"] == card["message_id"]
        answers[q.id] = value
    assert q is not None, "the referral flow never asks about immediate danger"
    calls = await (telegram.press_label("Yes") if how == "button" else telegram.say("yes"))
    sent = texts(calls)
    assert sent, [c.method for c in calls]
    first = telegram_plain(sent[0])
    assert first.startswith("Call 999 now.") and "55" in first
    # nothing but the 999 message comes before it: the old card only loses its buttons
    before = calls[: calls.index(next(c for c in calls if c.method == "sendMessage"))]
    assert {c.method for c in before} <= {"editMessageReplyMarkup"}
    nxt = rules.next_question("referral", {**answers, "immediate_danger": True})
    if nxt is not None:
        assert nxt.text in telegram_plain(sent[-1])


async def test_the_card_is_short_with_help_definition_and_source_behind_more(
    telegram: TelegramRunner, rules: DVRules
) -> None:
    calls = await start(telegram)
    q = rules.next_question("cdrp", {})
    assert q is not None and q.help
    [card] = texts(calls)
    assert q.text in telegram_plain(card) and "Source:" not in telegram_plain(card)
    assert "In immediate danger: call 999." in telegram_plain(card)
    calls = await telegram.press_label("More")
    assert count_methods(calls) == {"editMessageText": 1, "answerCallbackQuery": 1}
    [more] = texts(calls, "editMessageText")
    assert "Source:" in telegram_plain(more) and q.help.split(".")[0] in telegram_plain(more)
    calls = await telegram.press_label("Less")
    less = telegram_plain(texts(calls, "editMessageText")[0])
    assert q.text in less and "Source:" not in less and len(less) < len(telegram_plain(more))
    print(
        f"\nCDRP question 1 card: {len(telegram_plain(card))} characters, "
        f"{len(telegram_plain(more))} with More"
    )


# ---------------------------------------------------------------------- whole runs


async def test_a_cdrp_run_edits_one_card_and_sends_at_most_one_message_per_four_answers(
    telegram: TelegramRunner, rules: DVRules, store: TinyDBStore
) -> None:
    await telegram.say("/start")
    mark, pushed = telegram.fake.mark(), len(telegram.fake.pushed)
    answers, last = await drive_telegram(telegram, rules, "cdrp", CDRP_SCRIPT, "CDRP")
    run = telegram.fake.since(mark)
    counts = count_methods(run)
    new = counts.get("sendMessage", 0)
    assert new * 4 <= len(answers), counts
    assert counts.get("editMessageText", 0) >= len(answers) - 1
    presses = sum("callback_query" in u for u in telegram.fake.pushed[pushed:])
    assert counts["answerCallbackQuery"] == presses  # every press answered, once
    assert Session(rules, "cdrp", SID, store).result() == rules.assess("cdrp", answers)
    # the end: the card says so, the first result page is new, short, protected, with buttons
    result = [c for c in last if c.method == "sendMessage"][-1]
    plain = telegram_plain(result.params["text"])
    print(
        f"\nCDRP run: {len(answers)} answers, {new} sendMessage, "
        f"{counts.get('editMessageText', 0)} editMessageText, "
        f"{counts.get('editMessageReplyMarkup', 0)} editMessageReplyMarkup, "
        f"{counts.get('deleteMessage', 0)} deleteMessage; first result page "
        f"{len(plain)} characters"
    )
    assert len(plain) < 1500 and "Level attained" in plain
    assert result.params["protect_content"] in (True, "true", "True")
    assert keyboard_buttons(telegram.fake.last_keyboard_message())
    # nothing the person typed is left in the chat
    assert not telegram.fake.incoming


async def test_a_whole_referral_run_gives_a_short_first_result_and_the_rest_on_pages(
    telegram: TelegramRunner, rules: DVRules, store: TinyDBStore
) -> None:
    answers, last = await drive_telegram(
        telegram, rules, "referral", referral_script(rules), rules.kb.flow("referral").title[:20]
    )
    assert Session(rules, "referral", SID, store).result() == rules.assess("referral", answers)
    first = [c for c in last if c.method == "sendMessage"][-1]
    print(
        f"\nreferral run: first result page {len(telegram_plain(first.params['text']))} characters"
    )
    assert len(telegram_plain(first.params["text"])) < 1500
    result = telegram.fake.last_keyboard_message()
    labels = [b["text"] for b in keyboard_buttons(result)]
    assert any(x.endswith("Referrals") for x in labels), labels
    seen = {telegram_plain(result["text"])}
    for label in labels:  # every page and Why: the same message, edited in place
        now = telegram.fake.messages[result["message_id"]]
        button = next((b for b in keyboard_buttons(now) if b["text"] == label), None)
        if button is None:  # the page shown now, or a Why of another page
            continue
        calls = await telegram.press(button["callback_data"], message_id=result["message_id"])
        assert count_methods(calls) == {"editMessageText": 1, "answerCallbackQuery": 1}, label
        [edit] = [c for c in calls if c.method == "editMessageText"]
        assert int(edit.params["message_id"]) == result["message_id"]
        seen.add(telegram_plain(edit.params["text"]))
    assert len(seen) >= 3
    assert all(len(t) <= 4096 for t in seen)
    # case answers are never written to a file: no Report button, and report typed says why
    assert "Report" not in labels
    calls = await telegram.say("report")
    assert "sendDocument" not in count_methods(calls)
    assert "never written to a file" in shown(calls)


async def test_a_finished_self_assessment_sends_its_report_as_a_protected_document(
    telegram: TelegramRunner, rules: DVRules
) -> None:
    title = rules.kb.flow("minimum-standards").title
    _, last = await drive_telegram(telegram, rules, "minimum-standards", {}, title[:20])
    assert "tap Report under the result" in shown(last)
    calls = await telegram.press_label("Report", timeout=120)  # a PDF takes Chromium seconds
    [doc] = [c for c in calls if c.method == "sendDocument"]
    file = doc.params["document"]
    pdf = render.chromium() is not None  # CI has Chromium; without it the page comes as HTML
    assert file["filename"] == "minimum-standards-report." + ("pdf" if pdf else "html")
    assert file["data"].startswith(b"%PDF") if pdf else title.encode() in file["data"]
    assert doc.params["protect_content"] in (True, "true", "True")
    assert ("as a PDF" if pdf else "web page (HTML)") in shown(calls)
    # the document stays in the chat until forget, which deletes it with the rest
    message_id = next(m["message_id"] for m in telegram.fake.chat() if "document" in m)
    await telegram.say("forget")
    calls = await telegram.press_label("Yes, erase now")
    assert message_id in {
        int(m)
        for c in calls
        if c.method == "deleteMessages"
        for m in json.loads(c.params["message_ids"])
    }
    assert message_id not in telegram.fake.messages


async def test_two_quick_taps_on_a_multi_select_keep_both_choices(
    telegram: TelegramRunner, rules: DVRules, store: TinyDBStore
) -> None:
    await start(telegram)
    answers: dict[str, Any] = {}
    while (q := rules.next_question("cdrp", answers)) is not None and q.type != "multi_choice":
        await telegram.press_label("Don't know")
        answers[q.id] = None
    assert q is not None
    card = telegram.fake.last_keyboard_message()
    toggles = [b["callback_data"] for b in keyboard_buttons(card) if b["text"].startswith("[ ]")]
    # both presses are on the card as it was before either was handled
    first = telegram.fake.push_button(ALLOWED_TG, toggles[0], card["message_id"])
    second = telegram.fake.push_button(ALLOWED_TG, toggles[1], card["message_id"])
    await telegram.until_done(first, 0, None)
    await telegram.until_done(second, 0, None)
    now = telegram.fake.messages[card["message_id"]]
    assert [b["text"][:3] for b in keyboard_buttons(now)][:2] == ["[x]", "[x]"]
    await telegram.press_label("Done (2 chosen)")
    chosen = Session(rules, "cdrp", SID, store).answers[q.id]
    assert chosen == [q.choices[0].id, q.choices[1].id]


# ---------------------------------------------------------------------- case details


async def test_a_typed_answer_is_never_echoed_and_leaves_the_chat(
    telegram: TelegramRunner, rules: DVRules, store: TinyDBStore
) -> None:
    await start(telegram)
    await telegram.press_label("Yes")
    q = rules.next_question("cdrp", {"advocacy_service_independent": True})
    assert q is not None and q.type == "number"
    typed = telegram.fake.push_text(ALLOWED_TG, "13.75")
    mark = telegram.fake.mark()
    calls = await telegram.until_done(typed, mark, None)
    assert Session(rules, "cdrp", SID, store).answers[q.id] == 13.75
    assert "13.75" not in shown(calls)
    assert count_methods(calls).get("sendMessage", 0) == 0  # the card moved on in place
    assert [c.method for c in calls][-1] == "deleteMessage" and not telegram.fake.incoming
    # an answer that cannot be read is explained without quoting it, and is deleted too
    calls = await telegram.say("about four <b>Jane</b>")
    assert "couldn't read that" in shown(calls) and "Jane" not in shown(calls)
    assert not telegram.fake.incoming


async def test_forget_erases_the_session_and_deletes_the_bots_messages(
    telegram: TelegramRunner, rules: DVRules, store: TinyDBStore, store_path: Path
) -> None:
    await start(telegram)
    await telegram.press_label("Yes")
    await telegram.say("3")
    await telegram.press_label("Help")
    await telegram.say("result")
    before = set(telegram.fake.messages)
    assert len(before) >= 4
    calls = await telegram.say("/forget")
    assert "Erase everything" in shown(calls)
    await telegram.press_label("No, keep")
    assert store.load(SID) is not None
    await telegram.say("forget")
    calls = await telegram.press_label("Yes, erase now")
    deleted = {
        int(m)
        for c in calls
        if c.method == "deleteMessages"
        for m in json.loads(c.params["message_ids"])
    }
    assert before <= deleted
    assert store.load(SID) is None and snapshot(store_path) == {}
    [left] = telegram.fake.chat()
    assert telegram_plain(left["text"]).startswith("Erased.")


# ---------------------------------------------------------------------- refusals


async def test_a_user_not_on_the_allowlist_is_refused_and_nothing_changes(
    telegram: TelegramRunner, store_path: Path
) -> None:
    await start(telegram)
    before = snapshot(store_path)
    assert len(before) == 1
    calls = await telegram.say("/start", user=STRANGER_TG, need=("sendMessage",))
    assert texts(calls) == [REFUSED]
    yes = next(
        b for b in keyboard_buttons(telegram.fake.last_keyboard_message()) if b["text"] == "Yes"
    )
    calls = await telegram.press(
        yes["callback_data"], user=STRANGER_TG, need=("answerCallbackQuery",)
    )
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["text"] == REFUSED[:200]
    assert snapshot(store_path) == before


async def test_group_chats_are_refused(telegram: TelegramRunner, store_path: Path) -> None:
    calls = await telegram.say("/start", chat_type="group", need=("sendMessage",))
    assert texts(calls) == [PRIVATE_ONLY]
    assert snapshot(store_path) == {}


@pytest.mark.parametrize(
    "data",
    [
        "garbage",
        "a|999|y",
        "f|nosuchflow",
        "x" * 64,
        "t|{serial}|40",
        "a|{serial}|c7",
        "g|1|y",
        "n|rm -rf",
    ],
)
async def test_forged_or_stale_buttons_change_nothing_and_are_answered(
    telegram: TelegramRunner, rules: DVRules, store_path: Path, data: str
) -> None:
    await start(telegram)
    card = telegram.fake.last_keyboard_message()
    serial = keyboard_buttons(card)[0]["callback_data"].split("|")[1]
    calls = await telegram.press(data.format(serial=serial), message_id=card["message_id"])
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "nothing was changed" in answer.params.get("text", "")
    assert count_methods(calls).get("sendMessage", 0) == 0
    assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {}
    await telegram.press_label("Yes")  # still working afterwards
    assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {
        "advocacy_service_independent": True
    }


@pytest.mark.parametrize("typed", ["why ²", "why " + "9" * 5000, "why -1", "why 0", "why 1e3"])
async def test_why_takes_only_a_decimal_item_number_within_range(
    telegram: TelegramRunner, typed: str
) -> None:
    await start(telegram)
    await telegram.press_label("Don't know")
    calls = await telegram.say(typed)
    assert "in figures" in shown(calls) and "went wrong" not in shown(calls)
    calls = await telegram.say("why 1")
    assert "Source" in shown(calls)


async def test_photos_and_stickers_get_a_sentence_not_a_crash(telegram: TelegramRunner) -> None:
    update = telegram.fake.message_update(ALLOWED_TG, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {
        "file_id": "f",
        "file_unique_id": "u",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    mark = telegram.fake.mark()
    telegram.fake._push(update)
    calls = await telegram.fake.settle(mark, ("sendMessage",))
    assert "only read typed answers" in texts(calls)[0]


# ---------------------------------------------------------------------- sending


async def test_a_message_over_4096_characters_is_split_between_paragraphs_buttons_last(
    telegram: TelegramRunner,
) -> None:
    from dvrules.chat import Button

    paragraphs = [par(f"{n}. " + "word " * 150) for n in range(12)]
    msg = Message(paragraphs, [[Button("Yes", "a|1|y")]], kind="result", protect=True)
    bot = tg_bot.TelegramBot(tg_bot.telegram_config(telegram.env), telegram.rules, telegram.store)
    ids = await bot.send(telegram.app.bot, ALLOWED_TG, msg)
    sent = [telegram.fake.messages[i] for i in ids]
    assert len(sent) >= 2 and all(len(m["text"]) <= 4096 for m in sent)
    assert "\n\n".join(m["text"] for m in sent) == "\n\n".join(tg_format.fmt(p) for p in paragraphs)
    assert [bool(m.get("reply_markup")) for m in sent] == [False] * (len(sent) - 1) + [True]


async def test_restart_mid_conversation_resumes_the_same_card(
    fake_telegram: Any, store_path: Path, rules: DVRules
) -> None:
    env = telegram_env(store_path, fake_telegram)
    first = TelegramRunner(fake_telegram, TinyDBStore(store_path), rules, env)
    await first.start()
    await start(first)
    await first.press_label("Yes")
    await first.say("0.5")  # under one full-time equivalent: no full-time post question
    await first.stop()
    answers = {"advocacy_service_independent": True, "advocates_fte": 0.5}
    third = rules.next_question("cdrp", answers)
    assert third is not None and third.type == "number"
    card = fake_telegram.last_keyboard_message()
    second = TelegramRunner(fake_telegram, TinyDBStore(store_path), rules, env)  # a new process
    await second.start()
    try:
        calls = await second.say("50")
        assert Session(rules, "cdrp", SID, TinyDBStore(store_path)).answers == {
            **answers,
            third.id: 50,
        }
        following = rules.next_question("cdrp", {**answers, third.id: 50})
        assert following is not None
        [edit] = [c for c in calls if c.method == "editMessageText"]
        assert int(edit.params["message_id"]) == card["message_id"]
        assert following.text in telegram_plain(edit.params["text"])
    finally:
        await second.stop()


async def test_an_edit_the_platform_refuses_is_sent_anew(
    telegram: TelegramRunner, rules: DVRules
) -> None:
    await start(telegram)
    card = telegram.fake.last_keyboard_message()
    with telegram.fake.lock:  # the person deleted the card in the app
        del telegram.fake.messages[card["message_id"]]
    calls = await telegram.say("yes")
    assert count_methods(calls).get("sendMessage") == 1
    q = rules.next_question("cdrp", {"advocacy_service_independent": True})
    assert q is not None and q.text in telegram_plain(texts(calls)[0])
    calls = await telegram.say("3")  # and the new card is the one edited from now on
    [edit] = [c for c in calls if c.method == "editMessageText"]
    assert int(edit.params["message_id"]) == telegram.fake.last_keyboard_message()["message_id"]


# ---------------------------------------------------------------------- webhook and logs

UNREADABLE = {
    "message": {
        "message_id": 5,
        "text": "Jane Doe, 12 High Street",
        "from": {"id": ALLOWED_TG, "is_bot": False, "first_name": "Jane"},
    }
}


def test_webhook_mode_is_a_web_process_with_healthz_that_refuses_updates_without_the_secret(
    fake_telegram: Any, store_path: Path, tmp_path: Path
) -> None:
    """``python -m bots.telegram`` with a webhook URL binds $PORT like a Procfile ``web``
    process: /healthz for the platform, updates only with the secret, SIGTERM stops it."""
    port = free_port()
    secret = "s3cret-token-of-the-webhook"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DVRULES_", "TELEGRAM_"))},
        **telegram_env(store_path, fake_telegram),
        "PORT": str(port),
        "DVRULES_TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
        "DVRULES_TELEGRAM_WEBHOOK_SECRET": secret,
    }
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "web.log").open("w+") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bots.telegram"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if http_get(url + "/healthz", timeout=1) == (200, b'{"ok": true}'):
                        break
                except OSError:
                    pass
                assert proc.poll() is None and time.monotonic() < deadline, _read(out)
                time.sleep(0.1)
            [hook] = fake_telegram.since(0, "setWebhook")
            assert hook.params["url"] == "https://bot.example.org/telegram"
            assert hook.params["secret_token"] == secret
            body = json.dumps(
                {"update_id": 1, **fake_telegram.message_update(ALLOWED_TG, "/start")}
            )
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                assert http_post(url + "/telegram", body.encode(), headers)[0] == 403
            assert not fake_telegram.since(0, "sendMessage")
            signed = {"X-Telegram-Bot-Api-Secret-Token": secret}
            bad = json.dumps({"update_id": 2, **UNREADABLE}).encode()
            assert http_post(url + "/telegram", bad, signed)[0] == 200
            for garbage in (b"{not json", b"[" * 100_000, b"\xff\xfe"):
                assert http_post(url + "/telegram", garbage, signed)[0] == 400
            mark = fake_telegram.mark()
            assert http_post(url + "/telegram", body.encode(), signed)[0] == 200
            calls = fake_telegram.settle_sync(mark, ("sendMessage",))
            assert "call 999" in texts(calls)[0]
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(15) == 0, _read(out)
        finally:
            if proc.poll() is None:
                proc.kill()
        logged = _read(out)
    assert "dropped an update that could not be read" in logged
    for secret_text in ("Jane", "High Street", str(ALLOWED_TG), TELEGRAM_TOKEN, secret):
        assert secret_text not in logged


def _read(out: Any) -> str:
    out.flush()
    out.seek(0)
    return str(out.read())


async def test_an_unreadable_update_is_dropped_unlogged_and_the_next_is_answered(
    telegram: TelegramRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    quiet_libraries()
    telegram.fake._push(json.loads(json.dumps(UNREADABLE)))
    calls = await telegram.say("/start")
    assert "call 999" in texts(calls)[0]
    logged = "\n".join(
        r.getMessage() + str(r.exc_info or "") + str(r.args or "") for r in caplog.records
    )
    assert "dropped an update that could not be read" in logged
    for secret_text in ("Jane", "High Street", str(ALLOWED_TG)):
        assert secret_text not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_python_telegram_bot_log_lines_never_carry_an_update(
    telegram: TelegramRunner, caplog: pytest.LogCaptureFixture
) -> None:
    from telegram import Update

    caplog.set_level(logging.DEBUG)
    update = Update.de_json(
        {"update_id": 9, **telegram.fake.message_update(ALLOWED_TG, "Jane")}, telegram.app.bot
    )
    # as python-telegram-bot words it when it cannot build a context for an update
    for name in ("telegram.ext.Application", "telegram.ext.Updater", "telegram.ext"):
        logging.getLogger(name).critical(
            "Error while building CallbackContext for update %s. Update will not be processed.",
            update,
        )
    logging.getLogger("telegram.ext.ExtBot").critical(
        "Error while parsing updates! Received data was %r", [update.to_dict()]
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count("<update withheld>") == 4
    assert "Jane" not in logged and str(ALLOWED_TG) not in logged


async def test_logs_hold_no_typed_text_user_ids_or_tokens(
    telegram: TelegramRunner, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    quiet_libraries()  # as the bot's own start-up does
    await start(telegram)
    await telegram.say("Jane Doe, 12 High Street")  # what nobody should type, but someone will
    await telegram.press_label("Yes")
    await telegram.say("3.5")
    await telegram.say("/start", user=STRANGER_TG, need=("sendMessage",))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "turn handled" in logged
    for secret in (
        "Jane",
        "High Street",
        "3.5",
        str(ALLOWED_TG),
        str(STRANGER_TG),
        SALT,
        telegram.env["TELEGRAM_BOT_TOKEN"],
        "advocacy_service_independent",
    ):
        assert secret not in logged
