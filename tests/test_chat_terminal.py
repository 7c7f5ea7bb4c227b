"""The terminal chat's habits (``dvrules chat``), driven as a person types them.

The chat runs in-process through typer's CliRunner (and once as a real process, for the
terminal width); answers are checked in the store the chat wrote.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import dvrules.cli as cli
from dvrules import AnswerError, DVRules, Session, TinyDBStore, default_rules
from dvrules.answers import allowed, parse_text

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def shared_knowledge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DVRules", lambda area=None: default_rules(area))


def chat(flow: str, code: str, lines: list[str]) -> Any:
    res = CliRunner().invoke(
        cli.app, ["chat", flow, "--session", code], input="".join(f"{line}\n" for line in lines)
    )
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    return res


def flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------- typed answers


@pytest.mark.parametrize(
    ("qid", "typed", "value"),
    [
        (
            "plans_integrating_dv",
            "1 3 4",
            [
                "local_public_service_agreement",
                "equality_action_plan",
                "homelessness_reduction_strategy",
            ],
        ),
        (
            "plans_integrating_dv",
            "1,3,4",
            [
                "local_public_service_agreement",
                "equality_action_plan",
                "homelessness_reduction_strategy",
            ],
        ),
        (
            "plans_integrating_dv",
            "1, 3;  4",
            [
                "local_public_service_agreement",
                "equality_action_plan",
                "homelessness_reduction_strategy",
            ],
        ),
        ("plans_integrating_dv", "local area agreement", ["local_area_agreement"]),
        ("plans_integrating_dv", "none", []),
        ("sdvc", "readiness evidence", "readiness_evidence"),
        ("sdvc", "Readiness  Evidence", "readiness_evidence"),
        ("sdvc", "2", "readiness_evidence"),
        ("forum_budget_share_percent", "13%", 13),
        ("forum_budget_share_percent", "13 %", 13),
        ("forum_budget_share_percent", "12.5%", 12.5),
        ("victim_age_band", "25", "18_plus"),
        ("victim_age_band", "17", "16_17"),
        ("victim_age_band", "15", "under_16"),
        ("victim_age_band", "18 or over", "18_plus"),
        ("relationship", "don't know", None),
    ],
)
def test_typed_answers_are_read_as_people_type_them(
    rules: DVRules, qid: str, typed: str, value: Any
) -> None:
    assert parse_text(rules.kb, qid, typed) == value


@pytest.mark.parametrize(
    ("qid", "typed"),
    [
        ("plans_integrating_dv", "1 3 99"),
        ("plans_integrating_dv", "elsewhere"),
        ("forum_budget_share_percent", "13%%"),
        ("forum_budget_share_percent", "101%"),
        ("forum_budget_share_percent", "nan"),
        ("victim_age_band", "-3"),
        ("sdvc", "evidence x"),
    ],
)
def test_what_cannot_be_read_is_refused_with_what_is_allowed(
    rules: DVRules, qid: str, typed: str
) -> None:
    with pytest.raises(AnswerError) as err:
        parse_text(rules.kb, qid, typed)
    assert err.value.question_id == qid and allowed(rules.kb, rules.kb.questions[qid]) in str(
        err.value
    )


def test_the_terminal_takes_words_ages_and_several_numbers(rules: DVRules, store_dir: Path) -> None:
    lines = ["no", "yes", "police", "1", "25"]
    res = chat("referral", "T-words", lines)
    answers = Session(rules, "referral", "T-words", TinyDBStore()).answers
    assert answers == {
        "immediate_danger": False,
        "safe_to_talk": True,
        "role": "police",
        "person": "victim",
        "victim_age_band": "18_plus",
    }
    assert "couldn't read" not in res.output
    # several options by number, with spaces, in the CDRP
    given: dict[str, Any] = {}
    typed = []
    while (q := rules.next_question("cdrp", given)).type != "multi_choice":  # type: ignore[union-attr]
        typed.append("skip")
        given[q.id] = None  # type: ignore[union-attr]
    chat("cdrp", "T-list", [*typed, "1 3 4"])
    stored = Session(rules, "cdrp", "T-list", TinyDBStore()).answers
    assert stored[q.id] == [q.choices[0].id, q.choices[2].id, q.choices[3].id]  # type: ignore[union-attr]


# ---------------------------------------------------------------------- back, change, why


def test_back_shows_the_earlier_answer_and_keeps_the_later_ones(
    rules: DVRules, store_dir: Path
) -> None:
    res = chat("cdrp", "T-back", ["yes", "3.5", "back", "back", "no"])
    out = flat(res.output)
    assert "Looking again at an earlier answer: 3.5" in out
    assert "Looking again at an earlier answer: yes" in out
    answers = Session(rules, "cdrp", "T-back", TinyDBStore()).answers
    assert answers == {"advocacy_service_independent": False, "advocates_fte": 3.5}


def test_a_finished_session_is_reopened_and_amended(rules: DVRules, store_dir: Path) -> None:
    given: dict[str, Any] = {}
    while (q := rules.next_question("bvpi225", given)) is not None:
        given[q.id] = None
    first = chat("bvpi225", "T-done", ["skip"] * len(given))
    assert "Score: 0%" in first.output
    again = chat("bvpi225", "T-done", ["answers", "change 1", "yes"])
    out = flat(again.output)
    assert "This assessment is finished" in out
    first_q = rules.kb.questions[next(iter(given))]
    assert f"1. {first_q.short or first_q.text}: don't know" in out
    assert "Looking again at an earlier answer: don't know" in out
    amended = Session(rules, "bvpi225", "T-done", TinyDBStore())
    assert amended.answers[first_q.id] is True
    assert len(amended.answers) == len(given)  # every other answer kept
    assert out.count("Result: BVPI 225") == 1  # the amended result, shown at once


@pytest.mark.parametrize("arg", ["²", "9" * 5000, "0", "1e3"])
def test_why_with_anything_but_an_item_number_gets_a_clear_message(
    arg: str, store_dir: Path
) -> None:
    res = chat("cdrp", "T-why", ["no", f"why {arg}", "why 1"])
    out = flat(res.output)
    assert "Type why and the number of an item in the result, in figures" in out
    assert "Because" in out and "Source:" in out  # why 1 works, as in the bots


def test_forget_in_the_terminal_asks_then_erases(rules: DVRules, store_dir: Path) -> None:
    chat("cdrp", "T-forget", ["yes", "forget", "no"])
    assert Session(rules, "cdrp", "T-forget", TinyDBStore()).answers != {}
    res = chat("cdrp", "T-forget", ["forget", "yes"])
    assert "Erased" in res.output
    assert TinyDBStore().load("T-forget") is None


# ---------------------------------------------------------------------- wrapping


def test_text_is_wrapped_at_word_boundaries_to_the_terminal(
    store_dir: Path, rules: DVRules
) -> None:
    env = {**os.environ, "DVRULES_DB": str(store_dir), "COLUMNS": "42", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "dvrules", "chat", "referral", "--session", "T-wrap"],
        input="yes\nno\nresult\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    words = set(done.stdout.split())
    # every line fits, unless it is one word (a URL) too long for any line
    assert [ln for ln in lines if len(ln) > 42 and len(ln.split()) > 1] == []
    # no word is cut: every word of the questions and the danger message is whole
    for text in (
        rules.question_view("immediate_danger").text,
        rules.question_view("safe_to_talk").text,
        rules.kb.contacts["contact.emergency_999"].serves,
    ):
        assert set(text.split()) <= words, text
    assert "Call 999 now." in done.stdout


def test_start_in_the_terminal_says_how_to_start_each_flow(rules: DVRules, store_dir: Path) -> None:
    res = chat("cdrp", "T-menu", ["yes", "start"])
    for flow in rules.kb.flows:
        assert f"  dvrules chat {flow}" in res.output
    res = chat("cdrp", "T-menu", ["cancel", "yes"])  # cancel stops; nothing more is read
    assert "Stopped. Resume with: dvrules chat cdrp --session T-menu" in flat(res.output)
    assert Session(rules, "cdrp", "T-menu", TinyDBStore()).answers == {
        "advocacy_service_independent": True
    }


def test_the_terminal_says_what_to_type_never_what_to_tap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_DB", str(tmp_path))
    # immediate danger, safe to talk, then the role question (a choice) and a word it cannot read
    res = chat("referral", "t-typed-only", ["no", "yes", "the moon", "quit"])
    out = flat(res.output)
    assert "Type the option's number or words." in out
    assert "type its number" in out  # the refusal of "the moon"
    assert "tap " not in out.lower() and "tap," not in out.lower()


# ---------------------------------------------------------------------- kept, and the report


def test_a_finished_self_assessment_is_kept_and_its_report_written_to_the_folder(
    rules: DVRules, store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dvrules.audit.assessments import AssessmentStore
    from dvrules.audit.render import chromium

    monkeypatch.setenv("DVRULES_ASSESSMENTS", str(tmp_path / "kept"))
    out = tmp_path / "reports"
    out.mkdir()
    skips = ["skip"] * len(rules.kb.flow("minimum-standards").questions)
    args = [
        "chat",
        "minimum-standards",
        "--session",
        "T-keep",
        "--area",
        "Camden",
        "--period",
        "2026-27",
        "--out",
        str(out),
    ]
    res = CliRunner().invoke(cli.app, args, input="".join(f"{x}\n" for x in [*skips, "report"]))
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output
    said = flat(res.output)
    assert "type report to write it to a file" in said and "tap" not in said.lower()
    assert "Kept as minimum-standards-camden-2026-27 (no expiry)" in said
    kept = AssessmentStore().load("minimum-standards-camden-2026-27")
    assert kept.answers == Session(rules, "minimum-standards", "T-keep", TinyDBStore()).answers
    name = "minimum-standards-camden-2026-27-report." + ("pdf" if chromium() else "html")
    assert f"Report written: {out / name}" in said
    assert (
        (out / name).read_bytes().startswith(b"%PDF")
        if chromium()
        else rules.kb.flow("minimum-standards").title in (out / name).read_text()
    )
    # amended in the same chat: the kept copy follows; another chat does not overwrite it
    res = CliRunner().invoke(cli.app, args, input="change 1\nyes\n")
    assert "Kept as" in flat(res.output)
    assert len(AssessmentStore().load("minimum-standards-camden-2026-27").answers) == len(skips)
    other = CliRunner().invoke(
        cli.app, [*args[:3], "T-other", *args[4:]], input="".join(f"{x}\n" for x in skips)
    )
    assert "Not kept" in flat(other.output) and "--replace" in flat(other.output)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["referral", "--period", "2026-27"], "--period: the referral flow keeps no assessment"),
        (["cdrp", "--period", "2026-27"], "--period: give --area too"),
        (["cdrp", "--area", "Camden", "--period", "2026-28"], "is not a period"),
        (["cdrp", "--area", "<script>", "--period", "2026-27"], "is not an area name"),
        (["cdrp", "--out", "/no/such/folder"], "--out: /no/such/folder is not a folder"),
    ],
)
def test_chat_refuses_a_wrong_area_period_or_folder_in_one_line(
    store_dir: Path, args: list[str], says: str
) -> None:
    res = CliRunner().invoke(cli.app, ["chat", *args], input="quit\n")
    assert res.exit_code == 2 and says in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
