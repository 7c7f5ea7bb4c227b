"""The same answers give the same result through the session API, Telegram and Slack.

One script of answers is given three ways: straight to the terminal-independent session API,
through the Telegram bot (buttons and typed numbers) and through the Slack bot (slash command,
buttons and direct messages). The results the three sessions hold must be equal, and what each
bot showed must be exactly the session API's result rendered for that platform.
"""

from __future__ import annotations

from bot_drivers import (
    CDRP_SCRIPT,
    drive_slack,
    drive_telegram,
    scripted,
    slack_plain,
    telegram_plain,
)
from bot_fakes import ALLOWED_TEAM, ALLOWED_TG, ALLOWED_USER, SALT
from bot_runners import SlackRunner, TelegramRunner

from dvrules.chat import legacy_render as render
from bots import slack_blocks as sl_bot
from bots.slack_blocks import without_buttons
from dvrules.chat import Composer
from bots import telegram as tg_bot
from dvrules.chat.legacy import session_id
from dvrules import DVRules, Session, TinyDBStore


async def test_the_same_answers_give_the_same_result_everywhere(
        telegram: TelegramRunner, slack: SlackRunner, rules: DVRules, store: TinyDBStore) -> None:
    flow = "cdrp"
    # 1. the session API, as the terminal uses it
    api = Session(rules, flow, "case-0001", store)
    while (q := api.next_question()) is not None:
        api.answer(q.id, scripted(rules, flow, q.id, CDRP_SCRIPT))
    expected = api.result()

    # 2. Telegram
    tg_answers, tg_calls = await drive_telegram(telegram, rules, flow, CDRP_SCRIPT, "CDRP")
    # 3. Slack
    sl_answers, sl_calls = drive_slack(slack, rules, flow, CDRP_SCRIPT, "CDRP")

    assert tg_answers == sl_answers == api.answers
    tg_session = Session(rules, flow, session_id("tg", SALT, str(ALLOWED_TG)), store)
    sl_session = Session(rules, flow, session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER), store)
    assert tg_session.result() == sl_session.result() == expected

    shown = render.result_message(rules.kb, expected, complete=True)
    tg_texts = [c.params["text"] for c in tg_calls if c.method == "sendMessage"][1:]
    sl_blocks = [c.params["blocks"] for c in sl_calls if c.method == "chat.postMessage"]
    assert tg_texts == tg_bot.chunks(shown)
    # Slack (ported to dvrules.chat): the result's first page, as the composer lays it out
    view = Composer(rules.kb).result_view(expected, complete=True)
    first = Composer(rules.kb).result_page(view, view.names[0], [], first=True)
    assert [without_buttons(bl) for bl in sl_blocks] == sl_bot.blocks(first)
    plain = render.plain_text(shown.paragraphs)
    assert "\n\n".join(telegram_plain(t) for t in tg_texts) == plain
    headline = f"Level attained: {expected.summary['level_attained']} of 3"
    assert headline in plain and headline in slack_plain(sl_blocks[0])
