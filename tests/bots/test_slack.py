"""The Slack bot: the real Bolt app behind its WSGI adapter, receiving signed requests, with its
WebClient pointed at a fake Web API."""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import CDRP_SCRIPT, drive_slack, referral_script, slack_plain
from bot_fakes import (
    ALLOWED_TEAM,
    ALLOWED_USER,
    SALT,
    http_get,
    slack_buttons,
)
from bot_runners import SlackRunner

from dvrules.chat import legacy_render as render
from bots import slack as sl_bot
from dvrules.chat.legacy import REFUSED, session_id
from dvrules import DVRules, Session, TinyDBStore

SID = session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER)


def posted(calls: list[Any]) -> list[dict[str, Any]]:
    return [c.params for c in calls if c.method == "chat.postMessage"]


def expected_blocks(rules: DVRules, result: Any) -> list[list[dict[str, Any]]]:
    return sl_bot.blocks(render.result_message(rules.kb, result, complete=True))


def snapshot(store_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(store_path.glob("*.json"))}


def test_healthz(slack: SlackRunner) -> None:
    assert http_get(slack.url + "/healthz") == (200, b'{"ok": true}')
    assert slack.fake.since(0, "chat.postMessage") == []


def test_slash_command_starts_in_the_direct_message(slack: SlackRunner, rules: DVRules) -> None:
    calls = slack.command("")
    [msg] = posted(calls)
    assert msg["channel"] == "D0DM"
    assert msg["text"] == sl_bot.NOTIFICATION_TEXT  # nothing about the case on a lock screen
    plain = slack_plain(msg["blocks"])
    assert "In immediate danger: call 999." in plain and "do not enter names" in plain
    labels = [b["text"]["text"] for b in slack_buttons(msg)]
    assert labels == [render.short_label(rules.kb.flow(f).title) for f in rules.kb.flows]


def test_slash_command_in_a_channel_answers_in_direct_messages_only(slack: SlackRunner) -> None:
    mark = slack.fake.mark()
    status, body = slack.requests.command(ALLOWED_USER, "help", channel="C0PUBLIC")
    assert status == 200 and json.loads(body)["response_type"] == "ephemeral"
    [msg] = posted(slack.fake.settle_sync(mark, ("chat.postMessage",)))
    assert msg["channel"] == ALLOWED_USER  # the app's direct message with that person


def test_cdrp_self_assessment_end_to_end(slack: SlackRunner, rules: DVRules,
                                         store: TinyDBStore) -> None:
    answers, calls = drive_slack(slack, rules, "cdrp", CDRP_SCRIPT, "CDRP")
    msgs = posted(calls)
    assert "That's all the questions I need." in slack_plain(msgs[0]["blocks"])
    expected = rules.assess("cdrp", answers)
    assert Session(rules, "cdrp", SID, store).result() == expected
    assert [m["blocks"] for m in msgs[1:]] == expected_blocks(rules, expected)


def test_referral_conversation_end_to_end(slack: SlackRunner, rules: DVRules,
                                          store: TinyDBStore) -> None:
    if "referral" not in rules.kb.flows:
        pytest.skip("the referral flow is not in the knowledge yet")
    answers, calls = drive_slack(slack, rules, "referral", referral_script(rules),
                                 rules.kb.flow("referral").title[:20])
    expected = rules.assess("referral", answers)
    assert Session(rules, "referral", SID, store).result() == expected
    assert [m["blocks"] for m in posted(calls)[1:]] == expected_blocks(rules, expected)


def test_back_skip_why_summary_and_forget(slack: SlackRunner, rules: DVRules,
                                          store: TinyDBStore, store_path: Path) -> None:
    slack.command("")
    slack.press_label("CDRP")
    first = rules.next_question("cdrp", {})
    assert first is not None
    calls = slack.press_label("Yes")
    # the answered question's buttons are removed
    updates = [c.params for c in calls if c.method == "chat.update"]
    assert updates and not any(b["type"] == "actions" for b in updates[0]["blocks"])
    [msg] = posted(slack.say("back"))
    assert "Going back" in slack_plain(msg["blocks"])
    assert Session(rules, "cdrp", SID, store).answers == {}
    slack.command("skip")
    assert Session(rules, "cdrp", SID, store).answers == {first.id: None}
    [msg] = posted(slack.say("summary"))
    assert "1 question(s) answered (1 don't know)" in slack_plain(msg["blocks"])
    item = render.result_items(rules.assess("cdrp", {first.id: None}))[0]
    [msg] = posted(slack.say("why 1"))
    plain = slack_plain(msg["blocks"])
    assert item.title in plain and render.source_line(rules.kb, item.source) in plain
    slack.say("forget")
    [msg] = posted(slack.press_label("Yes, erase now"))
    assert "Erased" in slack_plain(msg["blocks"])
    assert store.load(SID) is None and snapshot(store_path) == {}


def test_multi_choice_toggles_update_the_message_in_place(slack: SlackRunner,
                                                          rules: DVRules) -> None:
    store = slack.store
    session = Session(rules, "cdrp", SID, store)
    while (q := session.next_question()) is not None and q.type != "multi_choice":
        session.skip(q.id)
    assert q is not None
    slack.say("start")
    slack.press_label("CDRP")
    msg = slack.fake.last_with_buttons()
    toggle = next(b for b in slack_buttons(msg) if b["text"]["text"].startswith("[ ] 2."))
    calls = slack._turn(lambda: slack.requests.action(ALLOWED_USER, toggle["value"], message=msg,
                                                      action_id=toggle["action_id"]))
    [update] = [c.params for c in calls if c.method == "chat.update"]
    assert update["ts"] == msg["ts"]
    assert any(b["text"]["text"].startswith("[x] 2.") for b in slack_buttons(update))
    assert not posted(calls)


@pytest.mark.parametrize("case", ["bad signature", "wrong secret", "stale timestamp",
                                  "future timestamp", "missing headers"])
def test_unsigned_or_badly_signed_requests_get_401_and_nothing_is_posted(
        slack: SlackRunner, store_path: Path, case: str) -> None:
    r = slack.requests
    message = {"ts": "1700000000.000001", "channel": "D0DM", "blocks": []}
    bodies = [(r.command_body(ALLOWED_USER, "start"), "application/x-www-form-urlencoded"),
              (r.event_body(ALLOWED_USER, "start"), "application/json"),
              (r.action_body(ALLOWED_USER, "f|cdrp", message=message),
               "application/x-www-form-urlencoded")]
    kw: dict[str, Any] = {
        "bad signature": {"extra": {"X-Slack-Signature": "v0=" + "0" * 64}},
        "wrong secret": {"secret": "not-the-signing-secret"},
        "stale timestamp": {"timestamp": int(time.time()) - 6 * 60},
        "future timestamp": {"timestamp": int(time.time()) + 6 * 60},
        "missing headers": {"sign": False},
    }[case]
    mark = slack.fake.mark()
    for body, content_type in bodies:
        status, _ = r.post(body, content_type, **kw)
        assert status == 401
    time.sleep(0.1)  # time enough for anything wrongly started to show
    assert slack.fake.since(mark) == []
    assert slack.bot.turns == 0
    assert snapshot(store_path) == {}


@pytest.mark.parametrize(("team", "user"), [("T0STRANGER", ALLOWED_USER),
                                            (ALLOWED_TEAM, "U0STRANGER")])
def test_a_team_or_user_not_allowed_is_refused_and_nothing_is_stored(
        slack: SlackRunner, store_path: Path, team: str, user: str) -> None:
    r = slack.requests
    # slash command: the refusal is the (ephemeral) response itself
    status, body = r.command(user, "start", team=team)
    assert status == 200 and json.loads(body) == {"response_type": "ephemeral", "text": REFUSED}
    # a direct message: one sentence back
    mark = slack.fake.mark()
    status, _ = r.event(user, "start", team=team)
    assert status == 200
    calls = slack.fake.settle_sync(mark, ("chat.postMessage",))
    assert [m["text"] for m in posted(calls)] == [REFUSED]
    # a button press (on a real message of the allowed user): through its response URL
    slack.command("")
    mark = slack.fake.mark()
    status, _ = slack.requests.action(user, "f|cdrp", team=team)
    assert status == 200
    calls = slack.fake.settle_sync(mark, ("response_url",))
    assert [c.params["text"] for c in calls] == [REFUSED]
    assert calls[0].params["response_type"] == "ephemeral"
    assert snapshot(store_path) == {}  # nothing stored


def test_slack_connect_actor_ids_are_checked_first(slack: SlackRunner, store_path: Path) -> None:
    """A button pressed by someone from another workspace in a shared channel: the request's
    team is ours, but the actor's team is not."""
    slack.command("")
    msg = slack.fake.last_with_buttons()
    body = slack.requests.action_body("U0EXTERNAL", "f|cdrp", message=msg)
    payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
    payload["user"]["team_id"] = "T0EXTERNAL"
    payload["is_enterprise_install"] = False
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    mark = slack.fake.mark()
    status, _ = slack.requests.post(body, "application/x-www-form-urlencoded")
    assert status == 200
    calls = slack.fake.settle_sync(mark, ("response_url",))
    assert [c.params["text"] for c in calls] == [REFUSED]


def test_a_retried_event_is_handled_once(slack: SlackRunner, store: TinyDBStore) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")
    r = slack.requests
    body = r.event_body(ALLOWED_USER, "3", event_id="Ev0RETRIED")
    mark = slack.fake.mark()
    assert r.post(body, "application/json")[0] == 200
    slack.fake.settle_sync(mark, ("chat.postMessage",))
    for n in (1, 2):
        status, _ = r.post(body, "application/json",
                           extra={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        assert status == 200
    time.sleep(0.3)
    assert len(posted(slack.fake.since(mark))) == 1
    assert list(Session(slack.bot.rules, "cdrp", SID, store).answers) == [
        "advocacy_service_independent", "advocates_fte"]


def test_a_forged_button_value_is_refused_politely(slack: SlackRunner, rules: DVRules,
                                                   store: TinyDBStore) -> None:
    slack.command("")
    slack.press_label("CDRP")
    for value in ("garbage", "a|cdrp|00000000|y", "t|cdrp|00000000|ffff", "x" * 300):
        [msg] = posted(slack.press(value))
        plain = slack_plain(msg["blocks"])
        assert "nothing was changed" in plain or "didn't recognise" in plain
    assert Session(rules, "cdrp", SID, store).answers == {}


def test_messages_from_bots_and_edits_are_ignored(slack: SlackRunner) -> None:
    r = slack.requests
    body = json.loads(r.event_body(ALLOWED_USER, "start"))
    body["event"]["subtype"] = "message_changed"
    mark = slack.fake.mark()
    assert r.post(json.dumps(body).encode(), "application/json")[0] == 200
    body = json.loads(r.event_body(ALLOWED_USER, "start"))
    body["event"]["bot_id"] = "BOTHER"
    assert r.post(json.dumps(body).encode(), "application/json")[0] == 200
    time.sleep(0.3)
    assert posted(slack.fake.since(mark)) == []


def test_url_verification(slack: SlackRunner) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"}).encode()
    status, answer = slack.requests.post(body, "application/json")
    assert status == 200 and json.loads(answer)["challenge"] == "abc123"


def test_long_results_fit_slack_limits(rules: DVRules) -> None:
    for flow in rules.kb.flows:
        answers: dict[str, Any] = {}
        while (q := rules.next_question(flow, answers)) is not None:
            answers[q.id] = None
        message = render.result_message(rules.kb, rules.assess(flow, answers), complete=True)
        parts = sl_bot.blocks(message)
        for blocks in parts:
            assert len(blocks) <= 50
            assert sum(len(b["text"]["text"]) for b in blocks if b["type"] == "section") <= 12000
            assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
        texts = [b["text"]["text"] for blocks in parts for b in blocks]
        assert texts == [sl_bot.fmt(p) for p in message.paragraphs]  # no item cut in two


# ---------------------------------------------------------------------- Slack correctness


def _replay(slack: SlackRunner, body: bytes, content_type: str, store_path: Path,
            fresh_signature: bool) -> None:
    """Post ``body`` once (a turn), then again: the second does nothing at all."""
    r = slack.requests
    stamp = int(time.time())
    slack._turn(lambda: r.post(body, content_type, timestamp=stamp))
    before, mark, turns = snapshot(store_path), slack.fake.mark(), slack.bot.turns
    again = stamp + 1 if fresh_signature else stamp
    status, answer = r.post(body, content_type, timestamp=again)
    assert (status, answer) == (200, b"")
    time.sleep(0.3)  # time enough for anything wrongly started to show
    assert slack.fake.since(mark) == [] and slack.bot.turns == turns
    assert snapshot(store_path) == before


def test_a_replayed_command_does_nothing(slack: SlackRunner, store_path: Path) -> None:
    body = slack.requests.command_body(ALLOWED_USER, "start")
    _replay(slack, body, "application/x-www-form-urlencoded", store_path, False)


def test_a_replayed_button_press_does_nothing(slack: SlackRunner, store_path: Path) -> None:
    slack.command("")
    slack.press_label("CDRP")
    msg = slack.fake.last_with_buttons()
    yes = next(b for b in slack_buttons(msg) if b["text"]["text"] == "Yes")
    body = slack.requests.action_body(ALLOWED_USER, yes["value"], message=msg,
                                      action_id=yes["action_id"])
    _replay(slack, body, "application/x-www-form-urlencoded", store_path, False)


@pytest.mark.parametrize("kind", ["command", "button"])
def test_a_request_signed_again_with_the_same_trigger_or_action_does_nothing(
        slack: SlackRunner, store_path: Path, kind: str) -> None:
    """Slack's ids of the gesture (``trigger_id``, ``action_ts``) are remembered too."""
    if kind == "command":
        body = slack.requests.command_body(ALLOWED_USER, "start")
    else:
        slack.command("")
        body = slack.requests.action_body(ALLOWED_USER, "f|cdrp",
                                          message=slack.fake.last_with_buttons())
    _replay(slack, body, "application/x-www-form-urlencoded", store_path, True)


def test_a_replayed_typed_answer_is_stored_once(slack: SlackRunner, store: TinyDBStore,
                                                store_path: Path) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")
    body = slack.requests.event_body(ALLOWED_USER, "3")
    _replay(slack, body, "application/json", store_path, False)
    assert Session(slack.bot.rules, "cdrp", SID, store).answers == {
        "advocacy_service_independent": True, "advocates_fte": 3}


def test_slack_connect_button_from_another_team_is_refused_with_a_team_allowlist_only(
        fake_slack: Any, store: TinyDBStore, store_path: Path, rules: DVRules) -> None:
    """In a shared channel the payload's ``team.id`` is the host's (allowed); the presser's own
    team is ``user.team_id``. With no user allowlist, only that team check stops them."""
    from bot_runners import slack_env

    env = slack_env(store_path, fake_slack)
    del env["DVRULES_SLACK_ALLOWED_USERS"]
    runner = SlackRunner(fake_slack, store, rules, env)
    try:
        runner.command("")
        body = runner.requests.action_body("U0EXTERNAL", "f|cdrp",
                                           message=fake_slack.last_with_buttons())
        payload = json.loads(urllib.parse.parse_qs(body.decode())["payload"][0])
        payload["user"]["team_id"] = "T0EXTERNAL"
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        before, mark = snapshot(store_path), fake_slack.mark()
        assert runner.requests.post(body, "application/x-www-form-urlencoded")[0] == 200
        calls = fake_slack.settle_sync(mark, ("response_url",))
        assert [c.method for c in calls] == ["response_url"]
        assert calls[0].params["text"] == REFUSED
        assert snapshot(store_path) == before and runner.bot.turns == 1
        # the same person of the allowed team passes
        assert runner.press("f|cdrp", user="U0EXTERNAL")
    finally:
        runner.stop()


def _form(payload: str) -> bytes:
    return urllib.parse.urlencode({"payload": payload}).encode()


MALFORMED = [
    (b"{not json", "application/json"),
    (b"[1, 2]", "application/json"),
    (b"null", "application/json"),
    (b"\xff\xfe", "application/x-www-form-urlencoded"),
    (_form("{bad"), "application/x-www-form-urlencoded"),
    (_form("[1]"), "application/x-www-form-urlencoded"),
    (_form('{"type": "block_actions", "user": "U0WORKER", "actions": "x"}'),
     "application/x-www-form-urlencoded"),
    (_form('{"type": "block_actions", "user": {"id": "U0WORKER", "team_id": ["T0ALLOWED"]},'
           ' "team": {"id": "T0ALLOWED"}, "actions": [1]}'), "application/x-www-form-urlencoded"),
    (b'{"type": "event_callback", "team_id": "T0ALLOWED", "event": "message"}',
     "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_a_malformed_signed_payload_gets_400_and_does_nothing(
        slack: SlackRunner, store_path: Path, body: bytes, content_type: str) -> None:
    mark = slack.fake.mark()
    status, answer = slack.requests.post(body, content_type)
    assert status == 400 and b"Traceback" not in answer
    # the same body unsigned is refused as unsigned
    assert slack.requests.post(body, content_type, sign=False)[0] == 401
    time.sleep(0.1)
    assert slack.fake.since(mark) == [] and snapshot(store_path) == {}


@pytest.mark.parametrize("stamp", ["abc", "\u00b2", "-5", "1e9", "9" * 40, ""])
def test_a_bad_timestamp_gets_400(slack: SlackRunner, stamp: str) -> None:
    body = slack.requests.command_body(ALLOWED_USER, "start")
    status, _ = slack.requests.post(body, "application/x-www-form-urlencoded",
                                    extra={"X-Slack-Request-Timestamp": stamp})
    assert status == 400
    assert slack.fake.since(0, "chat.postMessage") == []
