"""The Slack bot as gunicorn runs it: two workers (two real Bolt apps, each behind its own WSGI
server) sharing one store, with requests landing on either. A card one worker sent works the
same when it is pressed, or answered by typing, on the other: nothing about it lives in one
worker's memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import skip_to_several_choice, slack_plain
from bot_fakes import ALLOWED_TEAM, ALLOWED_USER, SALT, FakeSlack, SlackRequests, slack_buttons
from bot_runners import SlackRunner, slack_env

from dvrules import DVRules, Session, SessionStore, TinyDBStore, open_store
from dvrules.chat import session_id

SID = session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER)


@pytest.fixture(params=["files", "redis"])
def workers(
    request: pytest.FixtureRequest, fake_slack: FakeSlack, rules: DVRules, tmp_path: Path
) -> Iterator[tuple[SlackRunner, SlackRunner]]:
    """Two workers, each with its own store object over the same sessions (one directory, or
    one Redis server), as two gunicorn worker processes have."""

    def store() -> SessionStore:
        if request.param == "files":
            return TinyDBStore(tmp_path / "sessions")
        return open_store(request.getfixturevalue("redis_url"))

    env = slack_env(tmp_path / "sessions", fake_slack)
    a = SlackRunner(fake_slack, store(), rules, env)
    b = SlackRunner(fake_slack, store(), rules, env)
    # Slack gives every request its own trigger and event ids, whichever worker gets it.
    b.requests = SlackRequests(b.url + "/slack/events", fake_slack, ALLOWED_TEAM, first=10**6)
    yield a, b
    a.stop()
    b.stop()


def _form_button(card: dict[str, Any]) -> dict[str, Any]:
    return next(bt for bt in slack_buttons(card) if bt["text"]["text"] == "Choose in a form")


def test_a_card_sent_by_one_worker_opens_its_form_on_the_other(
    workers: tuple[SlackRunner, SlackRunner], rules: DVRules
) -> None:
    a, b = workers
    q = skip_to_several_choice(rules, SID, a.store)
    assert len(q.choices) >= 3
    a.say("start")
    a.press_label("CDRP")
    a.press_label("[ ] 2.")  # the second option ticked on the card
    card = a.fake.last_with_buttons()
    mark = b.fake.mark()
    form = _form_button(card)
    b.requests.action(ALLOWED_USER, form["value"], message=card, action_id=form["action_id"])
    calls = b.fake.settle_sync(mark, ("views.open", "response_url"))
    assert [c.method for c in calls] == ["views.open"]  # no "no longer available"
    opened = calls[0].params["view"]
    view = json.loads(opened) if isinstance(opened, str) else opened
    element = view["blocks"][0]["element"]
    assert view["blocks"][0]["label"]["text"] == q.text
    assert [o["text"]["text"] for o in element["options"]] == [c.label for c in q.choices]
    assert [o["value"] for o in element["initial_options"]] == ["1"]
    # submitted to the first worker: the question is answered and the card moves on in place
    body = a.requests.form_body(ALLOWED_USER, view, ["0", "2"])
    calls = a._turn(lambda: a.requests.post(body, "application/x-www-form-urlencoded"))
    assert [c.params["ts"] for c in calls if c.method == "chat.update"] == [card["ts"]]
    assert not [c for c in calls if c.method == "chat.postMessage"]
    answers = Session(rules, "cdrp", SID, b.store).answers
    assert answers[q.id] == [q.choices[0].id, q.choices[2].id]


def _until_danger(a: SlackRunner, rules: DVRules) -> dict[str, Any]:
    """The referral flow on worker ``a``, up to the immediate-danger card; that card."""
    a.command("")
    a.press_label(rules.kb.flow("referral").title[:20])
    first = rules.next_question("referral", {})
    assert first is not None and first.id == "immediate_danger"
    card = a.fake.last_with_buttons()
    assert first.text in slack_plain(card["blocks"])
    return card


def test_a_typed_answer_on_the_other_worker_takes_the_cards_buttons_off(
    workers: tuple[SlackRunner, SlackRunner], rules: DVRules
) -> None:
    a, b = workers
    card = _until_danger(a, rules)
    calls = b.say("yes")
    shown = [c for c in calls if c.method in ("chat.postMessage", "chat.update")]
    stripped = [c for c in shown if c.method == "chat.update" and c.params["ts"] == card["ts"]]
    assert len(stripped) == 1 and not slack_buttons(stripped[0].params)
    assert shown.index(stripped[0]) < next(  # before the 999 message
        n for n, c in enumerate(shown) if c.method == "chat.postMessage"
    )
    assert not slack_buttons(b.fake.messages[card["ts"]])
    kept = [bl for bl in card["blocks"] if bl["type"] != "actions"]
    assert b.fake.messages[card["ts"]]["blocks"] == kept  # the question stays readable


def test_when_reading_the_card_back_is_rate_limited_the_turn_carries_on_at_once(
    workers: tuple[SlackRunner, SlackRunner], rules: DVRules
) -> None:
    a, b = workers
    card = _until_danger(a, rules)
    b.fake.refuse.add("conversations.history")  # rate-limited: try again in 30 s
    calls = b.say("yes")  # within the runner's 10 s: the bot did not wait
    assert [c.method for c in calls].count("conversations.history") == 1
    said = [slack_plain(c.params["blocks"]) for c in calls if c.method == "chat.postMessage"]
    assert said and said[0].startswith("Call 999 now.")
    assert slack_buttons(b.fake.messages[card["ts"]])  # left as it was: stale if pressed
    assert Session(rules, "referral", SID, a.store).answers == {"immediate_danger": True}
