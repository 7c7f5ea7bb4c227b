"""The shared pieces both bots use: splitting, escaping, commands, button payloads, session
ids and configuration. The commands and payloads are the conversation core's (dvrules.chat)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bot_fakes import SALT
from hypothesis import given, settings
from hypothesis import strategies as st

from bots import slack_blocks as sl_format
from bots import telegram_format as tg_format
from bots.config import ConfigError, slack_config, telegram_config
from dvrules import DVRules, TinyDBStore
from dvrules.chat import (
    MAX_PAYLOAD_BYTES,
    Command,
    Conversation,
    Press,
    Span,
    parse_command,
    parse_payload,
    session_id,
)
from dvrules.chat import messages as render

spans = st.builds(Span, st.text(min_size=0, max_size=300), st.booleans(), st.booleans())
paragraphs = st.lists(spans, min_size=1, max_size=4).map(tuple)


@settings(max_examples=150, deadline=None)
@given(st.lists(paragraphs, min_size=1, max_size=30), st.integers(min_value=80, max_value=600))
def test_pack_keeps_every_chunk_under_the_limit_and_loses_nothing(
    pars: list[render.Paragraph], limit: int
) -> None:
    for fmt, measure in ((tg_format.fmt, render.utf16_len), (sl_format.fmt, len)):
        chunks = render.pack(pars, limit, fmt, measure)
        assert all(measure(c) <= limit for c in chunks)
        # every paragraph that fits is whole in one chunk
        for p in pars:
            whole = fmt(p)
            if measure(whole) <= limit and whole.strip():
                assert any(whole in c for c in chunks)
    # as plain text nothing is lost but whitespace at the cuts
    plain = render.pack(pars, limit, lambda p: "".join(s.text for s in p))
    squash = lambda t: re.sub(r"\s+", "", t)  # noqa: E731
    assert squash("".join(plain)) == squash(render.plain_text(pars))


def test_markup_in_knowledge_or_typed_text_is_escaped() -> None:
    p = render.par("a <b>x</b> & <script>", render.b("*bold* _it_ <@U123>"))
    assert (
        tg_format.fmt(p)
        == "a &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;<b>*bold* _it_ &lt;@U123&gt;</b>"
    )
    assert (
        sl_format.fmt(p) == "a &lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;**bold* _it_ &lt;@U123&gt;*"
    )
    assert sl_format.fmt(render.par(render.b("Title\n"), "text")) == "*Title*\ntext"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("/start", Command("start")),
        ("start", Command("start")),
        ("Back", Command("back")),
        ("/why 3", Command("why", "3")),
        ("why   12 ", Command("why", "12")),
        ("/help@dvrules_bot", Command("help")),
        ("forget now", Command("forget", "now")),
        ("/skip", Command("skip")),
        ("SUMMARY", Command("summary")),
        ("result", Command("result")),
        ("cancel", Command("cancel")),
        ("quit", Command("cancel")),
        ("/menu", Command("start")),
        ("change 4", Command("change", "4")),
        ("answers", Command("answers")),
    ],
)
def test_commands_are_read_with_or_without_a_slash(text: str, command: Command) -> None:
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["3", "yes", "don't know", "starting", "/unknown", "why?", ""])
def test_answers_are_not_commands(text: str) -> None:
    assert parse_command(text) is None


def test_every_card_of_every_question_fits_the_platform_limits(
    rules: DVRules, tmp_path: Any
) -> None:
    """Each flow's question cards (and their More view) as the core composes them: one
    Telegram message and one Slack message each, payloads within 64 bytes."""
    conv = Conversation(rules, TinyDBStore(tmp_path))
    for flow in rules.kb.flows:
        sid = f"limits-{flow}"
        reply = conv.handle(sid, Press(f"f|{flow}"))
        answers: dict[str, Any] = {}
        for _ in range(12):  # the first questions of each flow, with More folded out
            card = [m for m in reply.messages if m.kind == "card"][-1]
            if not card.buttons:
                break  # the flow ended: its card says so, without buttons
            more = next(b.payload for row in card.buttons for b in row if b.label == "More")
            for msg in (
                card,
                [m for m in conv.handle(sid, Press(more)).messages if m.kind == "card"][-1],
            ):
                for row in msg.buttons:
                    for bt in row:
                        assert len(bt.payload.encode()) <= MAX_PAYLOAD_BYTES
                        assert parse_payload(bt.payload) is not None
                        assert 0 < len(bt.label) <= 75
                assert len(tg_format.chunks(msg)) == 1  # a question is always one message
                assert len(sl_format.blocks(msg)) == 1
            q = rules.next_question(flow, answers)
            if q is None:
                break
            answers[q.id] = None
            reply = conv.handle(
                sid,
                Press(
                    next(b.payload for row in card.buttons for b in row if b.label == "Don't know")
                ),
            )


def test_session_ids_are_keyed_hashes_never_the_platform_ids() -> None:
    sid = session_id("tg", SALT, "4242")
    assert re.fullmatch(r"tg-[0-9a-f]{40}", sid) and "4242" not in sid
    assert session_id("tg", SALT, "4242") == sid
    assert session_id("tg", SALT + "x", "4242") != sid
    assert session_id("sl", SALT, "T1", "U1") != session_id("sl", SALT, "T1U", "1")


def test_configuration_problems_are_all_listed_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        telegram_config({"DVRULES_ID_SALT": "short", "DVRULES_TELEGRAM_ALLOWED_USERS": "12, bob"})
    text = str(err.value)
    assert "DVRULES_ID_SALT" in text and "TELEGRAM_BOT_TOKEN" in text and "'bob'" in text
    with pytest.raises(ConfigError) as err:
        slack_config(
            {
                "DVRULES_ID_SALT": SALT,
                "SLACK_BOT_TOKEN": "xoxb-1",
                "DVRULES_SLACK_ALLOWED_TEAMS": "not-a-team",
            }
        )
    text = str(err.value)
    assert "SLACK_SIGNING_SECRET" in text and "'not-a-team'" in text
    with pytest.raises(ConfigError, match="DVRULES_TELEGRAM_WEBHOOK_SECRET"):
        telegram_config(
            {
                "DVRULES_ID_SALT": SALT,
                "TELEGRAM_BOT_TOKEN": "1:" + "a" * 30,
                "DVRULES_TELEGRAM_ALLOWED_USERS": "1",
                "DVRULES_TELEGRAM_WEBHOOK_URL": "https://x.example/t",
                "PORT": "8443",
            }
        )
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        slack_config(
            {
                "DVRULES_ID_SALT": SALT,
                "SLACK_BOT_TOKEN": "xoxb-1",
                "DVRULES_SLACK_ALLOWED_TEAMS": "T123",
            },
            socket_mode=True,
        )
    ok = slack_config(
        {
            "DVRULES_ID_SALT": SALT,
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "DVRULES_SLACK_ALLOWED_TEAMS": "T123, T456",
        }
    )
    assert ok.allowed_teams == {"T123", "T456"} and not ok.allowed_users
