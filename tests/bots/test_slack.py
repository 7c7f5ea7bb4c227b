"""The Slack bot: the real Bolt app behind its WSGI adapter, receiving signed requests, with its
WebClient pointed at a fake Web API on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from bot_drivers import (
    CDRP_SCRIPT,
    drive_slack,
    referral_script,
    scripted,
    skip_to_several_choice,
    slack_plain,
)
from bot_fakes import ALLOWED_TEAM, ALLOWED_USER, SALT, http_get, slack_buttons
from bot_runners import SlackRunner

from bots import slack as sl_bot
from bots.slack_blocks import blocks
from dvrules import DVRules, Session, TinyDBStore
from dvrules.audit import render
from dvrules.chat import REFUSED, Message, session_id

SID = session_id("sl", SALT, ALLOWED_TEAM, ALLOWED_USER)


def posted(calls: list[Any]) -> list[dict[str, Any]]:
    return [c.params for c in calls if c.method == "chat.postMessage"]


def updated(calls: list[Any]) -> list[dict[str, Any]]:
    return [c.params for c in calls if c.method == "chat.update"]


def snapshot(store_path: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(store_path.glob("*.json"))}


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in slack_buttons(message)]


def answer_until(slack: SlackRunner, rules: DVRules, flow: str, stop: str) -> dict[str, Any]:
    """Start ``flow`` and answer its questions (the referral script) until ``stop`` is asked."""
    slack.command("")
    slack.press_label(rules.kb.flow(flow).title[:20])
    script, answers = referral_script(rules), {}
    while (q := rules.next_question(flow, answers)) is not None and q.id != stop:
        value = scripted(rules, flow, q.id, script)
        slack.say(
            "skip"
            if value is None
            else str(value)
            if q.type in ("integer", "number")
            else "yes"
            if value is True
            else "no"
            if value is False
            else str([c.id for c in q.choices].index(value) + 1)
        )
        answers[q.id] = value
    assert q is not None and q.id == stop
    return answers


def test_healthz(slack: SlackRunner) -> None:
    assert http_get(slack.url + "/healthz") == (200, b'{"ok": true}')
    assert slack.fake.since(0, "chat.postMessage") == []


def test_slash_command_starts_in_the_direct_message(slack: SlackRunner, rules: DVRules) -> None:
    [msg] = posted(slack.command(""))
    assert msg["channel"] == "D0DM"
    assert msg["text"] == sl_bot.NOTIFICATION_TEXT  # nothing about the case on a lock screen
    plain = slack_plain(msg["blocks"])
    assert "In immediate danger: call 999." in plain and "do not enter names" in plain
    assert len(labels(msg)) == len(rules.kb.flows)


def test_slash_command_in_a_channel_answers_in_direct_messages_only(slack: SlackRunner) -> None:
    mark = slack.fake.mark()
    status, body = slack.requests.command(ALLOWED_USER, "help", channel="C0PUBLIC")
    assert status == 200 and json.loads(body)["response_type"] == "ephemeral"
    [msg] = posted(slack.fake.settle_sync(mark, ("chat.postMessage",)))
    assert msg["channel"] == ALLOWED_USER  # the app's direct message with that person


@pytest.mark.parametrize("gesture", ["button", "typed"])
def test_immediate_danger_yes_is_answered_with_999_before_anything_else(
    slack: SlackRunner, rules: DVRules, gesture: str
) -> None:
    answer_until(slack, rules, "referral", "immediate_danger")
    calls = slack.press_label("Yes") if gesture == "button" else slack.say("yes")
    shown = [c for c in calls if c.method in ("chat.postMessage", "chat.update")]
    # the card only loses its buttons; the first thing said is the 999 message, standalone
    firsts = [c for c in shown if c.method == "chat.postMessage" or slack_buttons(c.params)]
    first = slack_plain(firsts[0].params["blocks"])
    assert firsts[0].method == "chat.postMessage"
    assert first.startswith("Call 999 now.") and "999 and then press 55" in first
    assert not slack_buttons(firsts[0].params)
    assert all(not slack_buttons(c.params) for c in shown[: shown.index(firsts[0])])


def test_a_whole_cdrp_run_edits_the_card_in_place(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    mark = slack.fake.mark()
    answers, last = drive_slack(slack, rules, "cdrp", CDRP_SCRIPT, "CDRP")
    calls = slack.fake.since(mark)
    new, edits = len(posted(calls)), len(updated(calls))
    assert new * 4 <= len(answers), (new, edits, len(answers))
    assert edits >= len(answers) - new
    assert Session(rules, "cdrp", SID, store).result() == rules.assess("cdrp", answers)
    # the end: the card says so (no buttons) and the result's first page is a new message
    [result] = posted(last)
    assert len(slack_plain(result["blocks"])) < 1500 and slack_buttons(result)
    assert any(
        not slack_buttons(u) and "That's all the questions I need" in slack_plain(u["blocks"])
        for u in updated(last)
    )


def test_a_referral_run_ends_in_a_paged_result(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    mark = slack.fake.mark()
    answers, last = drive_slack(
        slack, rules, "referral", referral_script(rules), rules.kb.flow("referral").title[:20]
    )
    assert Session(rules, "referral", SID, store).result() == rules.assess("referral", answers)
    assert len(posted(slack.fake.since(mark))) * 4 <= len(answers) + 4  # + the danger message
    [first] = posted(last)
    plain = slack_plain(first["blocks"])
    assert len(plain) < 1500 and first["text"] == sl_bot.NOTIFICATION_TEXT
    pages = [name for name in labels(first) if not name.startswith(("·", "Why"))]
    assert pages, labels(first)
    why = slack.press_label("Why ")  # the reasons and source of an item on the first page
    assert len(posted(why) + updated(why)) == 1
    assert "Source" in slack_plain((posted(why) + updated(why))[0]["blocks"])
    seen = {plain}
    for name in pages:
        calls = slack.press_label(name)
        assert posted(calls) == []  # the result message changes in place
        [page] = updated(calls)
        assert page["ts"] == slack.fake.last_with_buttons()["ts"]
        seen.add(slack_plain(page["blocks"]))
        assert all(len(b["text"]["text"]) <= 3000 for b in page["blocks"] if "text" in b)
    assert len(seen) == len(pages) + 1


def test_a_finished_self_assessment_uploads_its_report_into_the_direct_message(
    slack: SlackRunner, rules: DVRules
) -> None:
    title = rules.kb.flow("minimum-standards").title
    _, last = drive_slack(slack, rules, "minimum-standards", {}, title[:20])
    assert any("tap Report under the result" in slack_plain(u["blocks"]) for u in updated(last))
    calls = slack.press_label("Report", timeout=120)  # a PDF takes Chromium seconds
    # files_upload_v2: ask for an upload URL, send the bytes there, complete into the DM
    steps = [c.method for c in calls if c.method.startswith(("files.", "upload"))]
    assert steps == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    [file] = slack.fake.uploads.values()
    pdf = render.chromium() is not None  # CI has Chromium; without it the page comes as HTML
    assert file["name"] == file["title"] == "minimum-standards-report." + ("pdf" if pdf else "html")
    assert file["data"].startswith(b"%PDF") if pdf else title.encode() in file["data"]
    assert file["channel"] == "D0DM"
    assert any(
        ("as a PDF" if pdf else "web page (HTML)") in slack_plain(p["blocks"])
        for p in posted(calls)
    )
    # forget deletes the uploaded file with the bot's messages
    slack.say("forget")
    calls = slack.press_label("Yes, erase now")
    assert [c.method for c in calls].count("files.delete") == 1
    assert slack.fake.uploads == {}


def test_the_referral_flow_uploads_no_report(slack: SlackRunner, rules: DVRules) -> None:
    answer_until(slack, rules, "referral", "immediate_danger")
    calls = slack.say("report")
    assert not [c for c in calls if c.method.startswith("files.")]
    assert "never written to a file" in slack_plain(posted(calls)[0]["blocks"])


def test_multi_select_keeps_two_quick_taps(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    """Two toggles pressed at once on the same card: both are kept (in the session)."""
    q = skip_to_several_choice(rules, SID, store)
    slack.say("start")
    slack.press_label("CDRP")
    card = slack.fake.last_with_buttons()
    taps = [
        next(b for b in slack_buttons(card) if b["text"]["text"].startswith(f"[ ] {n}."))
        for n in (1, 2)
    ]
    bodies = [
        slack.requests.action_body(ALLOWED_USER, t["value"], message=card, action_id=t["action_id"])
        for t in taps
    ]
    with slack.bot.turned:
        before = slack.bot.turns
    threads = [
        threading.Thread(
            target=slack.requests.post, args=(body, "application/x-www-form-urlencoded")
        )
        for body in bodies
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with slack.bot.turned:
        assert slack.bot.turned.wait_for(lambda: slack.bot.turns >= before + 2, timeout=10)
    card = slack.fake.last_with_buttons()
    assert {"[x] 1.", "[x] 2."} <= {b["text"]["text"][:6] for b in slack_buttons(card)}
    slack.press_label("Done")
    assert Session(rules, "cdrp", SID, store).answers[q.id] == [c.id for c in q.choices[:2]]


def test_a_several_choice_question_can_be_answered_in_a_form(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    q = skip_to_several_choice(rules, SID, store)
    slack.say("start")
    slack.press_label("CDRP")
    slack.press_label("[ ] 2.")  # one ticked on the card already
    card = slack.fake.last_with_buttons()
    form = next(b for b in slack_buttons(card) if b["text"]["text"] == "Choose in a form")
    mark = slack.fake.mark()
    slack.requests.action(ALLOWED_USER, form["value"], message=card, action_id=form["action_id"])
    calls = slack.fake.settle_sync(mark, ("views.open",))
    [opened] = [c.params for c in calls if c.method == "views.open"]
    view = json.loads(opened["view"]) if isinstance(opened["view"], str) else opened["view"]
    element = view["blocks"][0]["element"]
    assert [o["value"] for o in element["initial_options"]] == ["1"]
    assert view["blocks"][0]["label"]["text"] == q.text
    assert [o["text"]["text"] for o in element["options"]] == [c.label for c in q.choices]
    body = slack.requests.form_body(ALLOWED_USER, view, ["0", "2"])
    calls = slack._turn(lambda: slack.requests.post(body, "application/x-www-form-urlencoded"))
    assert posted(calls) == [] and updated(calls)  # the card moves on in place
    assert Session(rules, "cdrp", SID, store).answers[q.id] == [q.choices[0].id, q.choices[2].id]


def test_a_form_button_of_a_card_from_an_older_version_says_so(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    q = skip_to_several_choice(rules, SID, store)
    slack.say("start")
    slack.press_label("CDRP")
    card = slack.fake.last_with_buttons()
    form = next(b for b in slack_buttons(card) if b["text"]["text"] == "Choose in a form")
    forged = [
        '{"q": "no_such_question", "s": 7, "t": []}',
        '{"q": "advocacy_service_independent", "s": 7, "t": []}',  # a yes/no question
        json.dumps({"q": q.id, "s": 7, "t": [1000]}),
    ]
    for value in ["7", *forged]:  # "7": what older cards carried
        mark = slack.fake.mark()
        slack.requests.action(ALLOWED_USER, value, message=card, action_id=form["action_id"])
        calls = slack.fake.settle_sync(mark, ("response_url",))
        assert [c.method for c in calls] == ["response_url"]
        assert calls[0].params["text"] == sl_bot.FORM_GONE


@pytest.mark.parametrize("typed", ["Jane Doe, 12 High Street", "987654"])
def test_a_typed_answer_is_never_echoed(slack: SlackRunner, typed: str) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")  # the next question takes a number
    calls = slack.say(typed)
    shown = json.dumps([c.params for c in calls])
    assert calls and typed not in shown and "Jane" not in shown


def test_a_stale_button_changes_nothing_and_sends_nothing(
    slack: SlackRunner, rules: DVRules, store: TinyDBStore
) -> None:
    slack.command("")
    slack.press_label("CDRP")
    old = json.loads(json.dumps(slack.fake.last_with_buttons()))
    slack.press_label("Yes")
    no = next(b for b in slack_buttons(old) if b["text"]["text"] == "No")
    calls = slack.press(no["value"], message=old, action_id=no["action_id"])
    assert posted(calls) == []
    [toast] = [c.params for c in calls if c.method == "response_url"]  # seen only by them
    assert "nothing was changed" in toast["text"] and toast["response_type"] == "ephemeral"
    assert Session(rules, "cdrp", SID, store).answers == {"advocacy_service_independent": True}


def test_back_why_summary_answers(slack: SlackRunner, rules: DVRules, store: TinyDBStore) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")
    calls = slack.press_label("Back")
    assert posted(calls) == [] and updated(calls)  # the same card, one question back
    assert "independent domestic violence advocacy" in slack_plain(updated(calls)[-1]["blocks"])
    slack.press_label("Yes")
    for command in ("summary", "answers", "why 1", "help"):
        calls = slack.say(command)
        assert len(posted(calls)) + len(updated(calls)) == 1, command
    calls = slack.say("answers")
    [shown] = posted(calls) + updated(calls)
    assert "yes" in slack_plain(shown["blocks"]).lower()  # one of the two places answers show


def test_forget_deletes_the_bots_messages_and_clears_app_home(
    slack: SlackRunner, store: TinyDBStore, store_path: Path
) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")
    slack.say("result")
    slack.say("forget")
    sent = [ts for ts, m in slack.fake.messages.items()]
    calls = slack.press_label("Yes, erase now")
    deleted = [c.params["ts"] for c in calls if c.method == "chat.delete"]
    assert sent and set(sent) <= set(
        deleted
    )  # every message of the bot (typed ones: Slack refuses)
    assert store.load(SID) is None and snapshot(store_path) == {}
    [erased] = posted(calls)
    assert len(slack.fake.messages) == 1  # only "Erased" is left
    assert "Erased" in slack_plain(erased["blocks"])
    assert "what you typed yourself stays in Slack" in slack_plain(erased["blocks"])
    home = slack_plain(slack.fake.home[ALLOWED_USER]["blocks"])
    assert "what you typed yourself stays in Slack" in home and "call 999" in home


def test_app_home_starts_carries_on_shows_the_result_and_erases(slack: SlackRunner) -> None:
    home = slack_plain(slack.open_home()["blocks"])
    assert "In immediate danger: call 999." in home and "Nothing in progress" in home
    assert "Erase everything" in labels(slack.fake.home[ALLOWED_USER])
    [card] = posted(slack.press_label_in_home("CDRP"))  # answered in the direct message
    assert card["channel"] == ALLOWED_USER and slack_buttons(card)
    slack.press_label("Yes")
    home = slack_plain(slack.open_home()["blocks"])
    assert "1 question(s) answered" in home and "Yes" not in home  # counts, never answers
    assert {"Carry on", "Result so far"} <= set(labels(slack.fake.home[ALLOWED_USER]))
    [result] = posted(slack.press_label_in_home("Result so far"))
    assert slack_buttons(result) and len(slack_plain(result["blocks"])) < 1500
    [ask] = posted(slack.press_label_in_home("Erase everything"))
    assert "Yes, erase now" in labels(ask)


def test_long_messages_fit_slack_limits() -> None:
    from dvrules.chat import par

    message = Message([par("x" * 2500) for _ in range(80)] + [par("y " * 4000)])
    parts = blocks(message)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in part if b["type"] == "section")


# ---------------------------------------------------------------------- Slack correctness


def _replay(
    slack: SlackRunner, body: bytes, content_type: str, store_path: Path, fresh_signature: bool
) -> None:
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
    body = slack.requests.action_body(
        ALLOWED_USER, yes["value"], message=msg, action_id=yes["action_id"]
    )
    _replay(slack, body, "application/x-www-form-urlencoded", store_path, False)


@pytest.mark.parametrize("kind", ["command", "button"])
def test_a_request_signed_again_with_the_same_trigger_or_action_does_nothing(
    slack: SlackRunner, store_path: Path, kind: str
) -> None:
    """Slack's ids of the gesture (``trigger_id``, ``action_ts``) are remembered too."""
    if kind == "command":
        body = slack.requests.command_body(ALLOWED_USER, "start")
    else:
        slack.command("")
        body = slack.requests.action_body(
            ALLOWED_USER, "f|cdrp", message=slack.fake.last_with_buttons()
        )
    _replay(slack, body, "application/x-www-form-urlencoded", store_path, True)


def test_a_replayed_typed_answer_is_stored_once(
    slack: SlackRunner, store: TinyDBStore, store_path: Path
) -> None:
    slack.command("")
    slack.press_label("CDRP")
    slack.press_label("Yes")
    body = slack.requests.event_body(ALLOWED_USER, "3")
    _replay(slack, body, "application/json", store_path, False)
    assert Session(slack.bot.rules, "cdrp", SID, store).answers == {
        "advocacy_service_independent": True,
        "advocates_fte": 3,
    }


def test_slack_connect_button_from_another_team_is_refused_with_a_team_allowlist_only(
    fake_slack: Any, store: TinyDBStore, store_path: Path, rules: DVRules
) -> None:
    """In a shared channel the payload's ``team.id`` is the host's (allowed); the presser's own
    team is ``user.team_id``. With no user allowlist, only that team check stops them."""
    from bot_runners import slack_env

    env = slack_env(store_path, fake_slack)
    del env["DVRULES_SLACK_ALLOWED_USERS"]
    runner = SlackRunner(fake_slack, store, rules, env)
    try:
        runner.command("")
        body = runner.requests.action_body(
            "U0EXTERNAL", "f|cdrp", message=fake_slack.last_with_buttons()
        )
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
    (
        _form('{"type": "block_actions", "user": "U0WORKER", "actions": "x"}'),
        "application/x-www-form-urlencoded",
    ),
    (
        _form(
            '{"type": "block_actions", "user": {"id": "U0WORKER", "team_id": ["T0ALLOWED"]},'
            ' "team": {"id": "T0ALLOWED"}, "actions": [1]}'
        ),
        "application/x-www-form-urlencoded",
    ),
    (b'{"type": "event_callback", "team_id": "T0ALLOWED", "event": "message"}', "application/json"),
]


@pytest.mark.parametrize(("body", "content_type"), MALFORMED)
def test_a_malformed_signed_payload_gets_400_and_does_nothing(
    slack: SlackRunner, store_path: Path, body: bytes, content_type: str
) -> None:
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
    status, _ = slack.requests.post(
        body, "application/x-www-form-urlencoded", extra={"X-Slack-Request-Timestamp": stamp}
    )
    assert status == 400
    assert slack.fake.since(0, "chat.postMessage") == []


def test_every_request_is_acked_while_turns_are_still_running(slack: SlackRunner) -> None:
    """Ten commands at once while every turn is held up: all ten get their HTTP answer (Slack's
    ack) first; the turns then all finish. (Bolt's default acked on 5 listener threads.)"""
    release, original = threading.Event(), slack.bot._turn
    slack.bot._turn = lambda *a, **kw: (release.wait(20), original(*a, **kw))  # type: ignore[method-assign]
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(slack.requests.command(ALLOWED_USER, "start")[0])
        )
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert statuses == [200] * 10 and slack.bot.turns == 0
    release.set()
    with slack.bot.turned:
        assert slack.bot.turned.wait_for(lambda: slack.bot.turns == 10, timeout=20)
    assert len(slack.fake.since(0, "chat.postMessage")) == 10
