"""Drive a whole interview through a bot the way a person would, checking every question.

At each step the question the bot should ask comes from the session API
(``DVRules.next_question`` over the answers given so far); the driver checks the bot's
message shows it, then answers with the platform's gesture: a button for yes/no, choices and
"don't know", toggles then Done for several choices, typed text for numbers.
"""

from __future__ import annotations

import html
import re
from typing import Any

from bot_fakes import Call, keyboard_buttons

from dvrules import DVRules, QuestionView, Session, SessionStore, TinyDBStore

# A CDRP self-assessment that uses every kind of answer: yes, no, typed numbers (whole and
# decimal), one choice, several choices, and "don't know" by button and by typing "skip".
CDRP_SCRIPT: dict[str, Any] = {
    "advocacy_service_independent": True,
    "advocates_fte": 3.5,
    "bvpi225_score": 62.5,
    "arrest_rate_percent": None,
    "survivor_consultation_evidence": True,
    "survivor_involvement_ongoing": False,
    "plans_integrating_dv": ["local_area_agreement", "homelessness_reduction_strategy"],
    "named_dv_lead_agencies": 4,
    "councillor_dv_lead": True,
    "dv_coordinator": "full_time_permanent",
    "forum_budget_allocated": True,
    "forum_budget_share_percent": 2,
    "data_collection_agencies": None,
    "schools_with_dv_work": 7,
    "contact_centre": "supervised_handover",
    "sdvc": "readiness_evidence",
}


def scripted(rules: DVRules, flow: str, qid: str, script: dict[str, Any]) -> Any:
    """The script's answer, or for a question it does not name: yes, 1, the first option."""
    if qid in script:
        return script[qid]
    q = rules.kb.questions[qid]
    if q.type == "yes_no":
        return True
    if q.type in ("integer", "number"):
        return 1
    first = rules.kb.choices(q)[0].id
    return [first] if q.type == "multi_choice" else first


def skip_to_several_choice(rules: DVRules, sid: str, store: SessionStore) -> QuestionView:
    """Store a CDRP session whose next question is its first several-choice one (the ones
    before skipped), so a bot started on it shows that card; the question."""
    session = Session(rules, "cdrp", sid, store)
    while (q := session.next_question()) is not None and q.type != "multi_choice":
        session.skip(q.id)
    assert q is not None
    return q


def telegram_plain(text: str) -> str:
    return html.unescape(re.sub(r"</?[bi]>", "", text))


async def drive_telegram(
    tg: Any, rules: DVRules, flow: str, script: dict[str, Any], flow_label: str
) -> tuple[dict[str, Any], list[Call]]:
    """Run a flow to its end through the Telegram bot; returns the answers and the last turn.

    The question is read from the question card as the person sees it now (it is edited in
    place, so it is not always the last message sent); ``tg.fake.since(mark)`` has every call.
    """
    await tg.say("/start")
    calls = await tg.press_label(flow_label)
    answers: dict[str, Any] = {}
    skip_by_typing = False
    while (q := rules.next_question(flow, answers)) is not None:
        card = tg.fake.last_keyboard_message()
        assert q.text in telegram_plain(card["text"]), (q.id, card["text"][:200])
        value = scripted(rules, flow, q.id, script)
        if value is None:
            skip_by_typing = not skip_by_typing
            calls = await (tg.say("skip") if skip_by_typing else tg.press_label("Don't know"))
        elif q.type == "yes_no":
            calls = await tg.press_label("Yes" if value else "No")
        elif q.type == "choice":
            n = [c.id for c in q.choices].index(value) + 1
            calls = await tg.press_label(f"{n}. ")
        elif q.type == "multi_choice":
            for cid in value:
                n = [c.id for c in q.choices].index(cid) + 1
                calls = await tg.press(_toggle(tg, n))
                assert sorted(c.method for c in calls) == ["answerCallbackQuery", "editMessageText"]
            calls = await tg.press_label("Done")
        else:
            calls = await tg.say(f"{value:g}" if isinstance(value, float) else str(value))
        answers[q.id] = value
    return answers, calls


def _toggle(tg: Any, n: int) -> str:
    msg = tg.fake.last_keyboard_message()
    for bt in keyboard_buttons(msg):
        if re.match(rf"^\[[ x]\] {n}\. ", bt["text"]):
            return bt["callback_data"]
    raise AssertionError(f"no toggle for option {n}")


def slack_plain(blocks: list[dict[str, Any]]) -> str:
    """The text a person reads in a Slack message: headers, sections and context lines."""
    texts = []
    for bl in blocks:
        if bl.get("type") in ("header", "section"):
            texts.append(bl["text"]["text"])
        elif bl.get("type") == "context":
            texts += [el.get("text", "") for el in bl["elements"]]
    return "\n\n".join(texts).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def drive_slack(
    sl: Any, rules: DVRules, flow: str, script: dict[str, Any], flow_label: str
) -> tuple[dict[str, Any], list[Call]]:
    """Run a flow to its end through the Slack bot (slash command, buttons and direct
    messages), checking the question card in place shows each question; returns the answers
    and the calls of the last turn."""
    sl.command("")
    calls = sl.press_label(flow_label)
    answers: dict[str, Any] = {}
    skip_by_typing = False
    while (q := rules.next_question(flow, answers)) is not None:
        card = sl.fake.last_with_buttons()
        assert q.text in slack_plain(card["blocks"]).replace("*", ""), q.id
        value = scripted(rules, flow, q.id, script)
        if value is None:
            skip_by_typing = not skip_by_typing
            calls = sl.say("skip") if skip_by_typing else sl.press_label("Don't know")
        elif q.type == "yes_no":
            calls = sl.press_label("Yes" if value else "No")
        elif q.type == "choice":
            n = [c.id for c in q.choices].index(value) + 1
            calls = sl.press_label(f"{n}. ")
        elif q.type == "multi_choice":
            for cid in value:
                n = [c.id for c in q.choices].index(cid) + 1
                calls = sl.press_label(f"[ ] {n}. ")
                assert [c.method for c in calls] == ["chat.update"]
            calls = sl.press_label("Done")
        else:
            calls = sl.say(f"{value:g}" if isinstance(value, float) else str(value))
        answers[q.id] = value
    return answers, calls


def referral_script(rules: DVRules) -> dict[str, Any]:
    """A referral conversation: choices by button, counts typed, the rest "don't know"."""
    script: dict[str, Any] = {q.id: None for q in rules.questions("referral")}
    chosen = {
        "role": "police",
        "person": "victim",
        "victim_age_band": "18_plus",
        "victim_gender": "female",
        "relationship": "ex_partner",
        "dash_yes_count": 15,
        "police_callouts_12_months": 3,
        "consent_to_share": "yes",
    }
    script.update({k: v for k, v in chosen.items() if k in script})
    return script


class CountingStore(TinyDBStore):
    """The real store, counting loads and saves."""

    loads = saves = 0

    def load(self, session_id: str) -> dict[str, Any] | None:
        self.loads += 1
        return super().load(session_id)

    def save(self, session_id: str, record: dict[str, Any]) -> None:
        self.saves += 1
        super().save(session_id, record)
