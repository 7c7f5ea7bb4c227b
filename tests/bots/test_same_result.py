"""The same answers give the same result through the session API, Telegram and Slack.

One script of answers is given three ways: straight to the session API the terminal uses,
through the Telegram bot (buttons and typed numbers) and through the Slack bot (slash command,
buttons and direct messages). The results the three sessions hold must be equal, and each bot's
last turn must show the result's headline exactly as the one composer (``dvrules.chat``) words
it, whatever layout the adapter gives the pages.
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

from dvrules import DVRules, Session, TinyDBStore
from dvrules.chat import Composer, plain_text, session_id


async def test_the_same_answers_give_the_same_result_everywhere(
    telegram: TelegramRunner, slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
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

    view = Composer(rules.kb).result_view(expected, complete=True)
    headline = plain_text(view.headline[1:2]).split("\n")[0]  # the figure, as composed
    assert headline.startswith(f"Level attained: {expected.summary['level_attained']} of 3")
    tg_shown = "\n\n".join(
        telegram_plain(c.params["text"])
        for c in tg_calls
        if c.method in ("sendMessage", "editMessageText")
    )
    sl_shown = "\n\n".join(
        slack_plain(c.params["blocks"]).replace("*", "")
        for c in sl_calls
        if c.method in ("chat.postMessage", "chat.update")
    )
    assert headline in tg_shown and headline in sl_shown
