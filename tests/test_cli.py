"""The ``dvrules`` command, as a co-ordinator runs it.

Most commands run in-process through typer's ``CliRunner`` (its result keeps stdout and
stderr apart; there is no ``mix_stderr`` in the installed typer). The resumable chat runs as
real separate processes, because surviving the end of a process is what is being tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import dvrules.cli as cli
from dvrules import DVRules, Session, TinyDBStore, default_rules
from dvrules.chat import wrap
from dvrules.report import cite_text, headline, render

from .conftest import extreme_answers

ROOT = Path(__file__).resolve().parent.parent
FLOWS = ["minimum-standards", "cdrp", "bvpi225"]


@pytest.fixture(autouse=True)
def shared_knowledge(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process commands reuse the once-loaded knowledge and engine (loading the YAML takes
    half a second); the subprocess tests and ``kb check`` load it afresh."""
    monkeypatch.setattr(cli, "DVRules", lambda area=None: default_rules(area))


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(cli.app, list(args), input=input)


SOME = {
    "minimum-standards": {
        "posters_in_public_areas": True,
        "website_information": False,
        "staff_training": None,
    },
    "cdrp": {
        "advocacy_service_independent": True,
        "advocates_fte": 3.5,
        "plans_integrating_dv": ["local_area_agreement", "local_policing_plan"],
        "contact_centre": "supervised_handover",
        "forum_budget_allocated": False,
    },
    "bvpi225": {
        "directory_of_services": True,
        "refuge_places": 30,
        "population": 250000,
        "training_groups": ["housing", "police"],
        "district_council": False,
    },
}


def write(tmp_path: Path, data: Any, name: str = "answers.json") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------- assess


@pytest.mark.parametrize("flow", FLOWS)
def test_assess_json_is_the_result_contract(rules: DVRules, tmp_path: Path, flow: str) -> None:
    res = run("assess", flow, "--answers", write(tmp_path, SOME[flow]), "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data == json.loads(rules.assess(flow, SOME[flow]).model_dump_json())
    assert data["flow"] == flow and data["knowledge_version"]
    for r in data["requirements"]:
        assert {"id", "title", "status", "because", "questions", "source"} <= set(r)
        assert r["status"] in ("met", "not_met", "unknown")
        assert r["source"]["document"] and r["source"]["section"]
        assert (r.get("level") in (1, 2, 3)) is (flow == "cdrp")
    for g in data["gaps"]:
        assert {"id", "title", "next_step", "source"} <= set(g)
    assert isinstance(data["next_steps"], list)
    if flow == "cdrp":
        assert {"level_attained"} <= set(data["summary"])
        assert [lv["level"] for lv in data["levels"]] == [1, 2, 3]
        assert [lv["total"] for lv in data["levels"]] == [12, 21, 17]
    elif flow == "bvpi225":
        assert {"yes", "total", "score"} <= set(data["summary"]) and data["summary"]["total"] == 11
        assert len(data["requirements"]) == 11 and len(data["monitoring"]) == 4
    else:
        assert data["summary"] == {"met": 1, "total": 9}
        assert [r["status"] for r in data["requirements"]].count("unknown") == 7


@pytest.mark.parametrize("flow", FLOWS)
def test_assess_text_and_markdown_read_the_same_result(
    rules: DVRules, tmp_path: Path, flow: str
) -> None:
    path = write(tmp_path, SOME[flow])
    result = rules.assess(flow, SOME[flow])
    text = run("assess", flow, "--answers", path)  # text is the default
    assert text.exit_code == 0, text.stderr
    assert text.stdout == render(result, kb=rules.kb)
    title = rules.kb.flow(flow).title
    assert text.stdout.splitlines()[:3] == [f"Result: {title}", "", headline(result, rules.kb)]
    markdown = run("assess", flow, "--answers", path, "--format", "markdown")
    assert markdown.exit_code == 0
    assert markdown.stdout.startswith(f"# Result: {title}\n")
    assert headline(result, rules.kb) in markdown.stdout.replace("**", "")
    # every requirement is named, with its source, in both; gaps come first
    for r in result.requirements:
        assert r.title in text.stdout and r.title in markdown.stdout
    for step in result.next_steps:
        assert cite_text(step.source, rules.kb) in text.stdout
    if result.next_steps and any(r.status == "met" for r in result.requirements):
        assert text.stdout.index("Gaps and next steps") < text.stdout.index("Met (")


def test_assess_reads_answers_from_stdin(rules: DVRules) -> None:
    res = run(
        "assess", "cdrp", "--answers", "-", "--format", "json", input=json.dumps(SOME["cdrp"])
    )
    assert res.exit_code == 0, res.stderr
    assert (
        json.loads(res.stdout)["requirements"]
        == json.loads(rules.assess("cdrp", SOME["cdrp"]).model_dump_json())["requirements"]
    )


def test_every_answer_most_favourable_attains_level_three_at_100_percent(
    rules: DVRules, tmp_path: Path
) -> None:
    answers = extreme_answers(rules, "cdrp", best=True)
    assert len(answers["plans_integrating_dv"]) == 18
    res = run("assess", "cdrp", "--answers", write(tmp_path, answers), "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["summary"]["level_attained"] == 3
    assert [(lv["met"], lv["total"], lv["percent"], lv["attained"]) for lv in data["levels"]] == [
        (12, 12, 100.0, True),
        (21, 21, 100.0, True),
        (17, 17, 100.0, True),
    ]
    assert {r["status"] for r in data["requirements"]} == {"met"}
    assert data["gaps"] == []
    text = run("assess", "cdrp", "--answers", write(tmp_path, answers)).stdout
    assert text.startswith("Result: CDRP")
    assert "\nLevel attained: 3 of 3\n" in text and "Level 3: 17 of 17 met (100%)" in text


def test_every_answer_least_favourable_attains_level_zero_with_nothing_met(
    rules: DVRules, tmp_path: Path
) -> None:
    answers = extreme_answers(rules, "cdrp", best=False)
    res = run("assess", "cdrp", "--answers", write(tmp_path, answers), "--format", "json")
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["summary"]["level_attained"] == 0
    assert [(lv["met"], lv["percent"], lv["attained"]) for lv in data["levels"]] == [
        (0, 0.0, False)
    ] * 3
    assert {r["status"] for r in data["requirements"]} == {"not_met"}
    assert data["gaps"] and data["next_steps"]


@pytest.mark.parametrize(
    ("flow", "answers", "names"),
    [
        ("cdrp", {"advocates": 2}, ["advocates:", "dvrules questions cdrp"]),
        ("cdrp", {"advocates_fte": "two"}, ["advocates_fte:", "a number of 0 or more"]),
        ("cdrp", {"advocates_fte": True}, ["advocates_fte:", "a number of 0 or more"]),
        ("cdrp", {"advocates_fte": -1}, ["advocates_fte:", "a number of 0 or more"]),
        ("cdrp", '{"advocates_fte": NaN}', ["advocates_fte:", "a number of 0 or more"]),
        ("cdrp", {"arrest_rate_percent": 100.5}, ["arrest_rate_percent:", "from 0 to 100"]),
        ("cdrp", {"named_dv_lead_agencies": 4.5}, ["named_dv_lead_agencies:", "a whole number"]),
        ("cdrp", {"councillor_dv_lead": "yes"}, ["councillor_dv_lead:", "yes or no"]),
        (
            "cdrp",
            {"contact_centre": "gold"},
            ["contact_centre:", "none, supported, supervised_handover, high_vigilance"],
        ),
        (
            "cdrp",
            {"plans_integrating_dv": ["local_area_agreement", "five_year_plan"]},
            ["plans_integrating_dv:", "local_public_service_agreement"],
        ),
        (
            "cdrp",
            {"plans_integrating_dv": "local_area_agreement"},
            ["plans_integrating_dv:", "a list"],
        ),
        ("cdrp", {"population": 250000}, ["population:", "dvrules questions cdrp"]),
        (
            "bvpi225",
            {"training_groups": ["housing", "parks"]},
            ["training_groups:", "housing, social_services, education, health, police"],
        ),
        ("bvpi225", {"households": -3}, ["households:", "0 or more"]),
        ("minimum-standards", {"staff_training": 1}, ["staff_training:", "yes or no"]),
        ("cdrp", '{"advocates_fte": ', ["answers:", "not valid JSON", "object"]),
        ("cdrp", "[true, false]", ["answers:", "JSON object of answer id to value"]),
        ("cdrp", '"all yes"', ["answers:", "JSON object of answer id to value"]),
        ("cdpr", {}, ["flow:", "'cdpr'", "minimum-standards", "cdrp", "bvpi225"]),
    ],
)
def test_bad_input_is_one_line_naming_the_id_and_what_is_allowed(
    tmp_path: Path, store_dir: Path, flow: str, answers: Any, names: list[str]
) -> None:
    res = run("assess", flow, "--answers", write(tmp_path, answers), "--format", "json")
    assert res.exit_code == 2
    assert res.stdout == ""
    line = res.stderr
    assert line.endswith("\n") and line.count("\n") == 1, repr(line)
    for part in names:
        assert part in line
    assert "Traceback" not in line
    assert not store_dir.exists() or list(store_dir.iterdir()) == []


def test_a_missing_or_unreadable_answers_file_is_one_line_and_exit_2(
    tmp_path: Path, store_dir: Path
) -> None:
    for path in (str(tmp_path / "nope.json"), str(tmp_path)):
        res = run("assess", "cdrp", "--answers", path)
        assert res.exit_code == 2 and res.stdout == ""
        assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"answers: cannot read {path}")
    binary = tmp_path / "latin1.json"
    binary.write_bytes(b'{"councillor_dv_lead": "\xff"}')
    res = run("assess", "cdrp", "--answers", str(binary))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "answers:" in res.stderr
    assert not store_dir.exists() or list(store_dir.iterdir()) == []


# ---------------------------------------------------------------------- questions, explain


def test_questions_json_lists_the_flow_in_asking_order(rules: DVRules) -> None:
    res = run("questions", "cdrp", "--format", "json")
    assert res.exit_code == 0, res.stderr
    views = json.loads(res.stdout)
    assert [v["id"] for v in views] == rules.kb.flow("cdrp").questions
    by_id = {v["id"]: v for v in views}
    assert by_id["contact_centre"]["type"] == "choice"
    assert [c["id"] for c in by_id["contact_centre"]["choices"]] == [
        "none",
        "supported",
        "supervised_handover",
        "high_vigilance",
    ]
    assert by_id["arrest_rate_percent"]["allowed"] == "a number from 0 to 100"
    assert len(by_id["plans_integrating_dv"]["choices"]) == 18
    assert all(v["text"] and v["source"]["document"] for v in views)


@pytest.mark.parametrize("flow", FLOWS)
def test_questions_text_has_one_line_per_question(rules: DVRules, flow: str) -> None:
    res = run("questions", flow)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    ids = rules.kb.flow(flow).questions
    assert len(lines) == len(ids)
    for qid, line in zip(ids, lines):
        q = rules.question_view(qid)
        assert line.startswith(f"{qid} ({q.allowed}): {q.text}")
        assert line.rstrip().endswith(cite_text(q.source))


def test_explain_gives_status_because_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, {"advocacy_service_independent": True, "advocates_fte": 3.5})
    res = run("explain", "cdrp", "cdrp.l3.independent_advocacy", "--answers", path)
    assert res.exit_code == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].endswith("(cdrp.l3.independent_advocacy): does not hold (not met)")
    assert "  because: advocates (full-time equivalent): 3.5 (needs at least 4)" in lines
    assert f"  source: {cite_text({'document': 'ldvs2', 'section': 'Level three'})}" in lines
    assert "  source: The Second London Domestic Violence Strategy (2005), Level three" in lines

    met = run("explain", "cdrp", "cdrp.l2.independent_advocacy", "--answers", path)
    assert met.stdout.splitlines()[0].endswith(": holds (met)")

    unknown = run("explain", "cdrp", "cdrp.l1.arrest_rate", "--answers", path, "--format", "json")
    info = json.loads(unknown.stdout)
    assert info["holds"] is None and info["questions"] == ["arrest_rate_percent"]
    assert info["source"] == {"document": "ldvs2", "section": "Level one"}


def test_explain_an_unknown_item_is_one_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, {})
    for item in ("cdrp.l4.nothing", "bvpi225.q01_directory"):  # the second is another flow's
        res = run("explain", "cdrp", item, "--answers", path)
        assert res.exit_code == 2 and res.stdout == ""
        assert res.stderr.count("\n") == 1 and item in res.stderr


# ---------------------------------------------------------------------- knowledge


def test_kb_check_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "DVRules", DVRules)  # load and compile for real
    res = run("kb", "check")
    assert res.exit_code == 0, res.stderr
    assert "is valid" in res.stdout


def test_kb_stats_counts_the_seed_standards() -> None:
    res = run("kb", "stats", "--format", "json")
    assert res.exit_code == 0, res.stderr
    stats = json.loads(res.stdout)
    assert stats["minimum-standards"]["requirements"] == 9
    assert stats["cdrp"]["by_level"] == {"1": 12, "2": 21, "3": 17}
    assert stats["bvpi225"]["requirements"] == 11 and stats["bvpi225"]["monitoring"] == 4
    assert stats["lists"]["cdrp.strategic_plans"] == 18
    text = run("kb", "stats").stdout
    assert '"requirements": 9' in text and '"by_level": {"1": 12, "2": 21, "3": 17}' in text
    assert '"requirements": 11, "monitoring": 4' in text


# ---------------------------------------------------------------------- sessions


def test_sessions_forget_erases_one_session(rules: DVRules, store_dir: Path) -> None:
    Session(rules, "cdrp", "case-1", TinyDBStore()).answer("councillor_dv_lead", True)
    Session(rules, "cdrp", "case-2", TinyDBStore()).answer("councillor_dv_lead", False)
    res = run("sessions", "forget", "case-1")
    assert res.exit_code == 0 and res.stdout.strip() == "erased"
    assert TinyDBStore().load("case-1") is None
    assert Session(rules, "cdrp", "case-2", TinyDBStore()).answers == {"councillor_dv_lead": False}
    again = run("sessions", "forget", "case-1")
    assert again.exit_code == 0 and "no such session" in again.stdout


def test_sessions_purge_erases_expired_sessions(
    rules: DVRules, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Session(rules, "cdrp", "case-1", TinyDBStore()).answer("councillor_dv_lead", True)
    assert run("sessions", "purge").stdout.strip() == "erased 0 expired session(s)"
    monkeypatch.setenv("DVRULES_SESSION_TTL_DAYS", "0.000001")  # 0.09 s (0 is refused)
    time.sleep(0.2)
    assert run("sessions", "purge").stdout.strip() == "erased 1 expired session(s)"
    assert list(store_dir.glob("*.json")) == []


def test_chat_refuses_a_case_code_with_path_characters(store_dir: Path) -> None:
    res = run("chat", "cdrp", "--session", "../../etc/x")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "session id" in res.stderr
    # nothing but the store's key, created with the store
    assert not store_dir.exists() or [p.name for p in store_dir.iterdir()] in ([], [".secret"])


# ---------------------------------------------------------------------- chat across processes


def typed(value: Any) -> str:
    """What a person types for an answer."""
    if value is None:
        return "skip"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value)


def chat(
    store_dir: Path, lines: list[str], flow: str = "cdrp", code: str = "KX-7"
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DVRULES_DB": str(store_dir), "COLUMNS": "2000", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dvrules", "chat", flow, "--session", code],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def flat(text: str) -> str:
    """Text with its wrapping undone (the terminal wraps at word boundaries)."""
    return " ".join(text.split())


def test_an_interrupted_chat_resumes_in_a_new_process_and_ends_as_assess_does(
    rules: DVRules, store_dir: Path, tmp_path: Path
) -> None:
    answers = extreme_answers(rules, "cdrp", best=True)
    answers.update(
        advocates_fte=3.5,
        forum_budget_share_percent=20,
        sdvc="readiness_evidence",
        snapshot_surgeries=1,
        snapshot_ae=None,
        dv_coordinator="part_time_permanent",
        plans_integrating_dv=[  # seven: level two, not three (in canonical order)
            "local_area_agreement",
            "equality_action_plan",
            "local_policing_plan",
            "camhs_strategy",
            "teenage_pregnancy_strategy",
            "healthy_schools_plan",
            "sure_start_strategy",
        ],
    )
    asked: list[str] = []  # what the interview will ask, in order
    given: dict[str, Any] = {}
    while (q := rules.next_question("cdrp", given)) is not None:
        asked.append(q.id)
        given[q.id] = answers[q.id]
    split = 12
    first_lines = [typed(given[q]) for q in asked[:split]]
    # a refused answer and a step back on the way, as people do
    first_lines[3:3] = ["lots", typed(given[asked[3]]), "back"]

    first = chat(store_dir, first_lines)  # stdin ends here: the terminal was closed
    assert first.returncode == 0, first.stderr
    # the refusal, in words (never quoting what was typed); then the same question again
    assert f"please enter {rules.question_view(asked[3]).allowed}, or don't know" in flat(
        first.stdout
    )
    assert "lots" not in first.stdout
    assert (
        "Stopped. Answers so far are kept; resume with: dvrules chat cdrp --session KX-7"
        in first.stdout
    )
    assert "Level attained" not in first.stdout  # no result yet
    assert "why N | summary" in flat(first.stdout)  # the commands, from the one table
    assert Session(rules, "cdrp", "KX-7", TinyDBStore()).answers == {
        q: given[q] for q in asked[:split]
    }

    second = chat(store_dir, [typed(given[q]) for q in asked[split:]])
    assert second.returncode == 0, second.stderr
    assert f"Case code KX-7: resuming, {split} answered." in second.stdout
    # the new process asks only what is left, starting where the first stopped
    texts = {q: rules.question_view(q).text for q in asked}
    out = flat(second.stdout)
    assert not [q for q in asked[:split] if texts[q] in out]
    assert [q for q in asked[split:] if texts[q] not in out] == []
    assert out.index(texts[asked[split]]) < min(out.index(texts[q]) for q in asked[split + 1 :])

    reference = run("assess", "cdrp", "--answers", write(tmp_path, given))
    assert reference.exit_code == 0, reference.stderr
    result = rules.assess("cdrp", given)
    assert headline(result, rules.kb) in reference.stdout
    assert result.summary["level_attained"] == 1  # a mix, not a trivial all-or-nothing
    # the terminal shows the same result, wrapped at word boundaries to its width (100 here)
    assert wrap(reference.stdout.rstrip("\n"), 100) in second.stdout
    stored = Session(DVRules(), "cdrp", "KX-7", TinyDBStore())
    assert stored.answers == given
    assert stored.result().model_dump() == result.model_dump()


def test_a_referral_chat_completes_in_the_terminal_and_ends_as_assess_does(
    rules: DVRules, store_dir: Path, tmp_path: Path
) -> None:
    """A midwife's case: a pregnant woman, recently separated, whose ex-partner stalks her."""
    case = {
        "immediate_danger": False,
        "safe_to_talk": True,
        "role": "health",
        "person": "victim",
        "victim_age_band": "18_plus",
        "victim_gender": "female",
        "lgbt": False,
        "relationship": "ex_partner",
        "children_in_household": False,
        "pregnant_or_baby_under_18_months": True,
        "dash_done_elsewhere": True,
        "dash_yes_count": 11,
        "stalking": True,
        "professional_judgement_high": True,
        "professional_judgement_reason": "stalking",
    }
    given: dict[str, Any] = {}
    while (q := rules.next_question("referral", given)) is not None:
        given[q.id] = case.get(q.id)  # everything else: don't know
    done = chat(store_dir, [typed(given[q]) for q in given], flow="referral", code="MW-1")
    assert done.returncode == 0, done.stderr
    result = rules.assess("referral", given)
    assert result.risk.level == "high" and "professional_judgement" in result.risk.marac_criteria
    reference = run("assess", "referral", "--answers", write(tmp_path, given))
    assert wrap(reference.stdout.rstrip("\n"), 100) in done.stdout
    assert "In immediate danger: call 999." in done.stdout
