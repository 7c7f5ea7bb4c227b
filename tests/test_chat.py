"""The conversation core every channel drives (dvrules.chat), as an adapter uses it.

A fake "platform" here is only a counter of message ids: each test runs real turns through
``Conversation.turn`` over a real TinyDB store and the shipped knowledge, executes the actions
the way an adapter does, and checks what a person would see and what is stored.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dvrules import DVRules, Session, TinyDBStore
from dvrules.chat import (
    COMMANDS,
    MAX_PAYLOAD_BYTES,
    Citation,
    Composer,
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
    choices_payload,
    menu_commands,
    parse_payload,
    plain_text,
)
from dvrules.chat.compose import FIRST_PAGE_LIMIT
from dvrules.chat.conversation import STALE

sys.path.insert(0, str(Path(__file__).parent / "bots"))
from bot_drivers import CDRP_SCRIPT, CountingStore, referral_script, scripted  # noqa: E402


class Platform:
    """Executes replies as an adapter does: numbers each sent message, keeps what is shown."""

    def __init__(self, conv: Conversation, sid: str = "chat-1"):
        self.conv, self.sid = conv, sid
        self.ids = itertools.count(100)
        self.shown: dict[str, Message] = {}  # message id -> what it shows now
        self.sends = self.edits = 0
        self.deleted: list[str] = []
        self.stripped: list[str] = []

    def turn(self, event: Text | Press) -> Reply:
        with self.conv.turn(self.sid, event) as reply:
            for act in reply.actions:
                if isinstance(act, Send):
                    mid = str(next(self.ids))
                    self.sends += 1
                    self.shown[mid] = act.message
                    reply.sent(act, mid)
                elif isinstance(act, Edit):
                    self.edits += 1
                    self.shown[act.message_id] = act.message
                elif isinstance(act, Strip):
                    self.stripped.append(act.message_id)
                    old = self.shown.get(act.message_id)
                    if old is not None:
                        self.shown[act.message_id] = Message(old.paragraphs, [], old.kind)
                elif isinstance(act, Delete):
                    self.deleted.append(act.message_id)
                    self.shown.pop(act.message_id, None)
        return reply

    def say(self, text: str) -> Reply:
        return self.turn(Text(text, message_id=f"u{next(self.ids)}"))

    def card(self) -> tuple[str, Message]:
        cards = [(mid, m) for mid, m in self.shown.items() if m.kind == "card" and m.buttons]
        assert cards, "no live question card"
        return cards[-1]

    def button(self, label: str, kind: str = "card") -> tuple[str, str]:
        """(message id, payload) of the newest message of ``kind`` with a button so labelled."""
        for mid, m in reversed(list(self.shown.items())):
            if m.kind != kind:
                continue
            for row in m.buttons:
                for b in row:
                    if b.label == label or b.label.startswith(label):
                        return mid, b.payload
        raise AssertionError(f"no button {label!r} on a {kind} message")

    def press(self, label: str, kind: str = "card") -> Reply:
        mid, payload = self.button(label, kind)
        return self.turn(Press(payload, mid))


def text_of(reply: Reply) -> str:
    return "\n\n".join(plain_text(m.paragraphs) for m in reply.messages)


@pytest.fixture
def store(tmp_path: Path) -> CountingStore:
    return CountingStore(tmp_path / "sessions")


@pytest.fixture
def conv(rules: DVRules, store: CountingStore) -> Conversation:
    return Conversation(rules, store)


@pytest.fixture
def tg(conv: Conversation) -> Platform:
    return Platform(conv)


def open_flow(p: Platform, flow: str) -> Reply:
    p.say("start")
    return p.turn(Press(f"f|{flow}", None))


def answer_with(p: Platform, rules: DVRules, flow: str, value: Any, q: Any) -> Reply:
    """Answer the live card as a person would: buttons, toggles then Done, or typing."""
    if value is None:
        return p.press("Don't know")
    if q.type == "yes_no":
        return p.press("Yes" if value else "No")
    if q.type == "choice":
        return p.press(f"{[c.id for c in q.choices].index(value) + 1}. ")
    if q.type == "multi_choice":
        for cid in value:
            p.press(f"[ ] {[c.id for c in q.choices].index(cid) + 1}. ")
        return p.press("Done")
    return p.say(f"{value:g}" if isinstance(value, float) else str(value))


def run_flow(p: Platform, rules: DVRules, flow: str, script: dict[str, Any]) -> Reply:
    open_flow(p, flow)
    answers: dict[str, Any] = {}
    reply = Reply()
    while (q := rules.next_question(flow, answers)) is not None:
        assert q.text in plain_text(p.card()[1].paragraphs)
        value = scripted(rules, flow, q.id, script)
        reply = answer_with(p, rules, flow, value, q)
        answers[q.id] = value
    return reply


# ---------------------------------------------------------------------- safety first


def test_yes_to_immediate_danger_is_answered_with_999_before_any_further_question(
    tg: Platform,
) -> None:
    open_flow(tg, "referral")
    card_id, card = tg.card()
    assert "Is anyone in immediate danger" in plain_text(card.paragraphs)
    reply = tg.press("Yes")
    kinds = [
        (type(a).__name__, getattr(getattr(a, "message", None), "kind", None))
        for a in reply.actions
    ]
    assert kinds == [("Strip", None), ("Send", "danger"), ("Send", "card")]
    danger = plain_text(reply.actions[1].message.paragraphs)  # type: ignore[union-attr]
    assert danger.startswith("Call 999 now.")
    assert "dial 999 and then press 55" in danger and "Silent Solution" in danger
    assert "https://www.centre56.org.uk/domestic-abuse" in danger  # cited
    # the old card no longer has live buttons; the new card says 999 applies already
    assert card_id in tg.stripped
    assert "Already applies: Call 999 now" in plain_text(tg.card()[1].paragraphs)
    # answered once: going back and answering yes again does not repeat the standalone message
    tg.say("back")
    assert all(m.kind != "danger" for m in tg.press("Yes").messages)


def test_every_card_and_result_keeps_999_in_view(tg: Platform, rules: DVRules) -> None:
    open_flow(tg, "cdrp")
    assert "In immediate danger: call 999." in plain_text(tg.card()[1].paragraphs)
    assert "In immediate danger: call 999." in text_of(tg.say("help"))
    assert "In immediate danger: call 999." in text_of(tg.say("result"))


# ---------------------------------------------------------------------- one load, one save


def test_each_turn_loads_once_and_saves_at_most_once(
    tg: Platform, store: CountingStore, rules: DVRules
) -> None:
    open_flow(tg, "referral")
    seen = []
    for event in (
        lambda: tg.press("No"),
        lambda: tg.press("Yes"),
        lambda: tg.say("1"),
        lambda: tg.press("More"),
        lambda: tg.say("summary"),
        lambda: tg.say("result"),
        lambda: tg.press("Referrals", kind="result"),
        lambda: tg.say("back"),
    ):
        store.loads = store.saves = 0
        event()
        seen.append((store.loads, store.saves))
    # every turn: one load; a save when something changed (a page press changes nothing)
    assert seen == [(1, 1)] * 6 + [(1, 0), (1, 1)]
    store.loads = store.saves = 0
    with tg.conv.turn(tg.sid, Text("help")):  # nothing changes: nothing is written
        pass
    assert (store.loads, store.saves) == (1, 0)


# ---------------------------------------------------------------------- editing in place


def test_a_whole_cdrp_run_edits_the_card_in_place(tg: Platform, rules: DVRules) -> None:
    reply = run_flow(tg, rules, "cdrp", CDRP_SCRIPT)
    answers = Session(rules, "cdrp", tg.sid, tg.conv.store).answers
    # start menu, the first card and the result are the only new messages
    assert tg.sends == 3 and tg.edits >= len(answers)
    assert tg.sends * 4 <= len(answers)
    [result] = [m for m in reply.messages if m.kind == "result"]
    assert len(plain_text(result.paragraphs)) < FIRST_PAGE_LIMIT and result.protect
    finished = [m for m in reply.messages if m.kind == "card"][0]
    assert "That's all the questions I need." in plain_text(finished.paragraphs)
    assert not finished.buttons


def test_a_referral_run_pages_its_result_behind_buttons(tg: Platform, rules: DVRules) -> None:
    reply = run_flow(tg, rules, "referral", referral_script(rules))
    answers = Session(rules, "referral", tg.sid, tg.conv.store).answers
    expected = rules.assess("referral", answers)
    [first] = [m for m in reply.messages if m.kind == "result"]
    text = plain_text(first.paragraphs)
    assert len(text) < FIRST_PAGE_LIMIT
    assert text.index("Risk level: high") < text.index("Do now")
    labels = [b.label for row in first.buttons for b in row]
    assert labels[0] == "· Do now" and "Referrals" in labels and "Why 1" in labels
    # case details stay out: no checklist count, no answer, no raw criterion id
    assert "15" not in text and "Dash" not in text and "visible_high_risk" not in text
    # a page button edits the result message in place
    result_id = next(mid for mid, m in tg.shown.items() if m is first)
    before = tg.sends
    page = tg.press("Referrals", kind="result")
    assert tg.sends == before and isinstance(page.actions[0], Edit)
    assert page.actions[0].message_id == result_id
    shown = plain_text(tg.shown[result_id].paragraphs)
    for r in expected.referrals:
        assert r.title in shown
    # Why N shows the reasons, the only place answers are echoed
    why = tg.press("Why 1", kind="result")
    assert why.actions[0].message.protect  # type: ignore[union-attr]
    item = expected.referrals[0]
    assert item.title in plain_text(tg.shown[result_id].paragraphs)
    for line in item.why:
        assert line in plain_text(tg.shown[result_id].paragraphs)


def test_more_folds_out_help_definition_and_source_on_the_same_card(
    tg: Platform, rules: DVRules
) -> None:
    open_flow(tg, "referral")
    tg.press("No")
    tg.press("Yes")
    card_id, card = tg.card()
    q = rules.question_view("role")
    assert "Source:" not in plain_text(card.paragraphs)
    reply = tg.press("More")
    assert [type(a) for a in reply.actions] == [Edit] and reply.actions[0].message_id == card_id
    assert "Source: " in plain_text(tg.shown[card_id].paragraphs)
    assert len(plain_text(card.paragraphs)) < len(plain_text(tg.shown[card_id].paragraphs))
    assert q.text in plain_text(tg.shown[card_id].paragraphs)
    tg.press("Less")
    assert "Source:" not in plain_text(tg.shown[card_id].paragraphs)


# ---------------------------------------------------------------------- stale buttons


def test_a_button_from_an_earlier_card_changes_nothing(tg: Platform, rules: DVRules) -> None:
    open_flow(tg, "cdrp")
    old_id, old = tg.card()
    no_old = next(b.payload for row in old.buttons for b in row if b.label == "No")
    back_old = next(b.payload for row in old.buttons for b in row if b.label == "Back")
    tg.press("Yes")  # answers question 1; the card now shows question 2
    tg.say("3")  # question 2 answered by typing
    answers = Session(rules, "cdrp", tg.sid, tg.conv.store).answers
    # the card was edited in place, so the old payloads are now stale
    for payload in (no_old, back_old):
        reply = tg.turn(Press(payload, old_id))
        assert reply.notice == STALE and reply.messages == []
    assert Session(rules, "cdrp", tg.sid, tg.conv.store).answers == answers


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=100),
        st.binary(max_size=80).map(lambda b: b.decode("latin-1")),
        st.none(),
        st.integers(),
    )
)
def test_any_button_payload_is_parsed_or_refused_never_crashes(payload: Any) -> None:
    parsed = parse_payload(payload)
    if parsed is not None:
        assert isinstance(payload, str) and len(payload.encode()) <= MAX_PAYLOAD_BYTES


def test_forged_payloads_are_refused_politely(tg: Platform) -> None:
    open_flow(tg, "cdrp")
    for payload in ("a|999|y", "x" * 70, "f|nosuchflow", "p|1|99", "w|1|0", "g|5|y", None):
        reply = tg.turn(Press(payload, "1"))
        assert reply.notice and not reply.forgotten
    assert tg.conv.store.load(tg.sid) is not None


# ---------------------------------------------------------------------- multi-select


def test_two_quick_taps_on_a_multi_select_keep_both_choices(tg: Platform, rules: DVRules) -> None:
    open_flow(tg, "cdrp")
    answers: dict[str, Any] = {}
    while (q := rules.next_question("cdrp", answers)).type != "multi_choice":  # type: ignore[union-attr]
        value = scripted(rules, "cdrp", q.id, CDRP_SCRIPT)  # type: ignore[union-attr]
        answer_with(tg, rules, "cdrp", value, q)
        answers[q.id] = value  # type: ignore[union-attr]
    card_id, card = tg.card()
    toggles = [b.payload for row in card.buttons for b in row if b.label.startswith("[ ]")]
    # two presses on the same (unchanged) card, at the same moment, from two threads
    threads = [
        threading.Thread(target=tg.conv.handle, args=(tg.sid, Press(p, card_id)))
        for p in toggles[:2]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tg.press("Done")
    chosen = Session(rules, "cdrp", tg.sid, tg.conv.store).answers[q.id]  # type: ignore[union-attr]
    assert chosen == [c.id for c in q.choices[:2]]  # type: ignore[union-attr]
    # nothing of the selection rides in a button value
    assert all(len(b.payload) < 16 for row in card.buttons for b in row)


# ---------------------------------------------------------------------- forget


def test_forget_erases_the_store_and_memo_and_deletes_recent_messages(
    tg: Platform, rules: DVRules, store: CountingStore
) -> None:
    open_flow(tg, "referral")
    tg.press("No")
    tg.say("yes")
    sent = [mid for mid, _ in store.load(tg.sid)["chat"]["sent"]]  # type: ignore[index]
    assert any(m.startswith("u") for m in sent)  # the typed answer too
    reply = tg.say("forget")
    assert "Erase everything" in text_of(reply) and store.load(tg.sid) is not None
    tg.press("No, keep", kind="forget")
    assert store.load(tg.sid) is not None
    # an old message (over 48 hours) is not asked to be deleted: the platform would refuse
    record = store.load(tg.sid)
    assert record is not None
    record["chat"]["sent"][0][1] = time.time() - 49 * 3600
    store.save(tg.sid, record)
    tg.say("forget")
    reply = tg.press("Yes, erase now", kind="forget")
    assert reply.forgotten and store.load(tg.sid) is None
    deleted = [a.message_id for a in reply.actions if isinstance(a, Delete)]
    assert set(deleted) >= set(sent[1:]) and sent[0] not in deleted
    assert "Erased" in text_of(reply)
    assert not rules._recent  # the engine's memo holds no answers
    assert store.load(tg.sid) is None  # and the turn did not save it again


# ---------------------------------------------------------------------- case details


def test_a_typed_answer_is_never_echoed_and_results_name_no_answers(
    tg: Platform, rules: DVRules
) -> None:
    open_flow(tg, "referral")
    tg.press("No")
    tg.press("Yes")
    reply = tg.say("Jane Smith at 4 Elm Road")  # not an answer: refused without quoting it
    assert "Jane" not in text_of(reply) and "Elm" not in text_of(reply)
    reply = tg.say("police")  # an option by its words
    assert "police" not in text_of(reply).lower().split("question")[0]
    assert Session(rules, "referral", tg.sid, tg.conv.store).answers["role"] == "police"
    summary = text_of(tg.say("summary"))
    assert "police" not in summary.lower()


def test_answers_lists_what_was_answered_and_change_reopens_it(
    tg: Platform, rules: DVRules
) -> None:
    open_flow(tg, "bvpi225")
    answers: dict[str, Any] = {}
    while (q := rules.next_question("bvpi225", answers)) is not None:
        answer_with(tg, rules, "bvpi225", scripted(rules, "bvpi225", q.id, {}), q)
        answers[q.id] = scripted(rules, "bvpi225", q.id, {})
    listing = tg.say("answers")
    [msg] = listing.messages
    assert msg.protect and msg.kind == "answers"
    first = rules.kb.questions[next(iter(answers))]
    assert f"1. {first.short or first.text}: yes" in plain_text(msg.paragraphs)
    # a finished session reopened: change 1, answer no, and the result is amended
    reply = tg.say("change 1")
    assert "Looking again at an earlier answer: yes" in text_of(reply)
    done = tg.press("No")
    assert any(m.kind == "result" for m in done.messages)
    assert Session(rules, "bvpi225", tg.sid, tg.conv.store).answers[first.id] is False
    assert "answers are numbered 1 to" in text_of(tg.say("change 999"))


def test_back_keeps_later_answers_and_shows_the_earlier_answer(
    tg: Platform, rules: DVRules
) -> None:
    open_flow(tg, "cdrp")
    tg.press("Yes")
    tg.say("3.5")
    before = Session(rules, "cdrp", tg.sid, tg.conv.store).answers
    reply = tg.say("back")
    assert "Looking again at an earlier answer: 3.5" in text_of(reply)
    assert Session(rules, "cdrp", tg.sid, tg.conv.store).answers == before
    reply = tg.press("Keep answer")
    third = rules.next_question("cdrp", before)
    assert third is not None and third.text in text_of(reply)


@pytest.mark.parametrize("arg", ["²", "9" * 5000, "0", "-1", "1.5", "one", "999", "#x"])
def test_why_takes_only_an_item_number_in_range(tg: Platform, arg: str) -> None:
    open_flow(tg, "cdrp")
    tg.press("No")
    reply = tg.say(f"why {arg}")
    assert "Type why and the number of an item" in text_of(reply)
    assert reply.messages[0].kind == "info"


def test_why_n_explains_an_item_of_the_result_so_far(tg: Platform, rules: DVRules) -> None:
    open_flow(tg, "cdrp")
    tg.press("No")
    reply = tg.say("why 1")
    [msg] = reply.messages
    assert msg.kind == "why" and msg.protect and msg.paragraphs[0][0].text.startswith("1. ")
    assert "Source: " in plain_text(msg.paragraphs)


# ---------------------------------------------------------------------- one table, one format


def test_the_command_table_feeds_help_and_the_telegram_menu(tg: Platform) -> None:
    help_text = text_of(tg.say("help"))
    for c in COMMANDS:
        assert f"{c.name}{' ' + c.arg if c.arg else ''}: {c.help}" in help_text
    names = [n for n, _ in menu_commands()]
    assert names[:2] == ["start", "help"] and len(names) == len(set(names))
    assert all(n.islower() and len(n) <= 32 for n in names)
    assert "Choose what to work on" in text_of(tg.say("/menu"))  # an alias
    assert "Commands" in text_of(tg.say("/frobnicate"))  # an unknown command is not an answer


def test_a_citation_prints_the_document_or_the_outside_page_and_its_dates(rules: DVRules) -> None:
    seed = Citation.of(rules.kb, {"document": "ldvs2", "section": "Principles"})
    assert str(seed) == "The Second London Domestic Violence Strategy (2005), Principles"
    outside = Citation(
        document="current_practice",
        title="Current practice fact sheet",
        section="Silent Solution",
        url="https://www.centre56.org.uk/domestic-abuse",
        date="n.d.",
        checked="2026-12-01",
    )
    assert str(outside) == (
        "Current practice fact sheet, Silent Solution, "
        "https://www.centre56.org.uk/domestic-abuse (undated page; "
        "checked 2026-12-01)"
    )


def test_every_card_fits_the_platform_limits(rules: DVRules, tmp_path: Path) -> None:
    conv = Conversation(rules, TinyDBStore(tmp_path))
    for flow in rules.kb.flows:
        p = Platform(conv, sid=f"limits-{flow}")
        open_flow(p, flow)
        card = p.card()[1]
        for row in card.buttons:
            for b in row:
                assert len(b.payload.encode()) <= 64 and parse_payload(b.payload) is not None
                assert 0 < len(b.label) <= 75
        for q in rules.questions(flow):
            msg = Composer(rules.kb).card(q, buttons=[], more=True)
            assert len(plain_text(msg.paragraphs)) < 4000


# ---------------------------------------------------------------------- other channels' needs


def test_a_form_can_answer_a_multi_choice_card_at_once(tg: Platform, rules: DVRules) -> None:
    open_flow(tg, "cdrp")
    answers: dict[str, Any] = {}
    while (q := rules.next_question("cdrp", answers)).type != "multi_choice":  # type: ignore[union-attr]
        answer_with(tg, rules, "cdrp", None, q)
        answers[q.id] = None  # type: ignore[union-attr]
    card_id, card = tg.card()
    assert card.meta["question"] == q.id and card.meta["type"] == "multi_choice"  # type: ignore[union-attr]
    assert card.meta["options"] == [c.label for c in q.choices]  # type: ignore[union-attr]
    stale = choices_payload(card.meta["serial"] - 1, [0])
    assert tg.turn(Press(stale, card_id)).notice == STALE
    tg.turn(Press(choices_payload(card.meta["serial"], [1, 4]), card_id))
    chosen = Session(rules, "cdrp", tg.sid, tg.conv.store).answers[q.id]  # type: ignore[union-attr]
    assert chosen == [q.choices[1].id, q.choices[4].id]  # type: ignore[union-attr]


def test_home_shows_what_is_in_progress_in_counts_and_saves_nothing(
    tg: Platform, rules: DVRules, store: CountingStore
) -> None:
    empty = tg.conv.home("nobody-yet")
    assert "Nothing in progress" in plain_text(empty.paragraphs)
    assert store.load("nobody-yet") is None
    open_flow(tg, "cdrp")
    tg.press("Yes")
    store.loads = store.saves = 0
    home = tg.conv.home(tg.sid)
    assert (store.loads, store.saves) == (1, 0)
    text = plain_text(home.paragraphs)
    assert "In immediate danger: call 999." in text and "1 question(s) answered" in text
    labels = [b.label for row in home.buttons for b in row]
    assert labels[:2] == ["Carry on", "Result so far"] and labels[-1] == "Erase everything"
    assert any(m.kind == "result" for m in tg.turn(Press(home.buttons[0][1].payload)).messages)
    assert any(
        m.kind == "forget" for m in tg.turn(Press(home.buttons[-1][0].payload, None)).messages
    )


def test_a_result_with_headings_shows_how_each_heading_stands(rules: DVRules) -> None:
    from dvrules.chat.messages import plain_text

    answers = {"agency": "local_authorities"}
    result = rules.assess("ldvs2-recommendations", answers)
    assert result.groups
    shown = plain_text(Composer(rules.kb).full_result(result, complete=False))
    for g in result.groups:
        assert f"{g.group}: {g.met} of {g.total} met, {g.unknown} not known yet" in shown


# ---------------------------------------------------------------------- the report file


def documents(reply: Reply) -> list[SendDocument]:
    return [a for a in reply.actions if isinstance(a, SendDocument)]


def test_a_finished_self_assessment_offers_its_report_as_a_file(
    tg: Platform, rules: DVRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_flow(tg, "minimum-standards")
    assert documents(tg.say("report")) == []  # not yet: the questions are not all answered
    assert "once every question is answered" in text_of(tg.say("report"))
    last = run_flow(tg, rules, "minimum-standards", {})
    assert "tap Report under the result" in text_of(last)
    # without Chromium (as on a machine with no browser) the same report comes as HTML
    monkeypatch.setenv("DVRULES_CHROMIUM", "no-such-chromium-here")
    reply = tg.press("Report", kind="result")
    [doc] = documents(reply)
    assert doc.name == "minimum-standards-report.html" and doc.mime == "text/html"
    page = doc.data.decode()
    assert rules.kb.flow("minimum-standards").title in page and "<svg" in page
    assert "web page (HTML)" in text_of(reply) and "Chromium is not installed" in text_of(reply)
    assert doc.protect
    # the document is recorded like any message, so forget deletes it where the app allows
    with tg.conv.turn(tg.sid, Text("report")) as again:
        [doc] = documents(again)
        again.sent(doc, "doc-1")
    tg.say("forget")
    tg.press("Yes, erase now", kind="forget")
    assert "doc-1" in tg.deleted


def test_the_referral_flow_never_offers_or_writes_a_report(tg: Platform, rules: DVRules) -> None:
    last = run_flow(tg, rules, "referral", referral_script(rules))
    assert "Report" not in text_of(last)
    labels = [b.label for m in tg.shown.values() for row in m.buttons for b in row]
    assert "Report" not in labels
    reply = tg.say("report")
    assert documents(reply) == [] and "never written to a file" in text_of(reply)
    assert parse_payload("r|1") == ("report", {"serial": "1"})
    assert documents(tg.turn(Press("r|1"))) == []  # a forged Report press: refused as stale
