"""Scenario coverage and the scenario runner itself.

The cases live in ``tests/scenarios/*.yaml`` (see docs/knowledge-format.md) and are collected
as tests by ``tests/scenario_plugin.py``, each run through the real durable_rules engine. Here:
the cases together cover every flow and both sides of every outcome, and the runner refuses
what would make a case assert nothing, and reports a failure where an author can act on it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dvrules import DVRules
from dvrules.scenarios import Case, ScenarioError, load_all, load_file

from .conftest import ROOT

SCENARIO_DIR = Path(__file__).parent / "scenarios"


@pytest.fixture(scope="module")
def cases(rules: DVRules) -> list[Case]:
    return load_all(SCENARIO_DIR, rules.kb)


def test_no_person_is_marked_twice(cases: list[Case]) -> None:
    people = [c.scenario.person for c in cases if c.scenario.person]
    assert sorted(p for p in set(people) if people.count(p) > 1) == []


def test_there_are_scenarios_for_every_flow(rules: DVRules, cases: list[Case]) -> None:
    flows = {c.flow for c in cases}
    assert flows >= set(rules.kb.flows), f"flows without scenarios: {set(rules.kb.flows) - flows}"


def test_every_outcome_is_shown_holding_by_some_scenario(rules: DVRules, cases: list[Case]) -> None:
    """Every requirement, criterion, pathway, action, warning and gap has a scenario in which
    it holds, and every requirement one in which it is not met."""
    seen: dict[str, set[str]] = {}
    for case in cases:
        for item, status in (case.scenario.expect.status or {}).items():
            seen.setdefault(item, set()).add(status)
    never_met = [o.id for o in rules.kb.outcomes.values() if "met" not in seen.get(o.id, set())]
    never_failed = [
        o.id
        for o in rules.kb.outcomes.values()
        if rules.kb.outcome_kind[o.id] == "requirements" and "not_met" not in seen.get(o.id, set())
    ]
    assert never_met == [] and never_failed == []


# The public ids issue 8 added: each is shown holding and not holding by some scenario, and each
# new answer is given both ways.
ISSUE8_OUTCOMES = [
    f"pathway.{p}"
    for p in (
        "adult_safeguarding",
        "dvds_right_to_ask",
        "police_protection_notice",
        "report_to_police",
        "forced_marriage_protection_order",
        "fgm_mandatory_report",
        "nrm",
        "stalking_service",
        "sarc",
        "pre_birth_referral",
        "migrant_victims_concession",
        "local_specialist_da_service",
    )
]
ISSUE8_OUTCOMES.append("warning.forced_marriage_one_chance")
ISSUE8_ANSWERS = [
    "care_and_support_needs",
    "fgm_at_risk",
    "fgm_known_under_18",
    "currently_pregnant",
]
ISSUE8_PEOPLE = {
    "older_woman_son_care_needs",
    "forced_marriage_19",
    "fgm_15_nurse",
    "fgm_15_housing",
    "friend_new_partner",
    "trafficked_adult",
    "pregnant_high_risk",
    "spousal_visa_nrpf",
    "strangulation_standard",
    "stalking",
    "rape_by_partner",
    "male_victim_separating",
    "police_abuser_at_home",
    "medium_local_service",
}


def test_every_issue_8_id_is_shown_on_both_sides_by_scenarios(
    rules: DVRules, cases: list[Case]
) -> None:
    seen: dict[str, set[str]] = {}
    given: dict[str, set[Any]] = {}
    for case in cases:
        for item, status in (case.scenario.expect.status or {}).items():
            seen.setdefault(item, set()).add(status)
        for qid in ISSUE8_ANSWERS:
            if qid in case.scenario.answers:
                given.setdefault(qid, set()).add(case.scenario.answers[qid])
    assert set(ISSUE8_OUTCOMES) <= set(rules.kb.outcomes)
    one_sided = [o for o in ISSUE8_OUTCOMES if not {"met", "not_met"} <= seen.get(o, set())]
    assert one_sided == []
    assert [q for q in ISSUE8_ANSWERS if not {True, False} <= given.get(q, set())] == []
    assert {c.scenario.person for c in cases} - {None} == ISSUE8_PEOPLE


# ---------------------------------------------------------------------- the runner itself

GOOD = """\
flow: minimum-standards
scenarios:
  - name: An agency with posters in public areas meets the posters standard
    answers: {posters_in_public_areas: true}
    expect:
      status: {ms.posters: met}
"""


def _write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    path = folder / "demo.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _dvrules(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("dvrules")), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def posters_id(rules: DVRules) -> str:
    """The minimum-standards outcome that tests the posters answer."""
    assert "ms.posters_in_public_areas" in rules.kb.outcomes
    return "ms.posters_in_public_areas"


def _good(posters_id: str) -> str:
    return GOOD.replace("ms.posters", posters_id)


def test_a_misspelt_expect_key_is_an_error_naming_the_key_and_file_line(
    tmp_path: Path, rules: DVRules, posters_id: str
) -> None:
    path = _write(tmp_path, _good(posters_id).replace("status:", "stauts:"))
    with pytest.raises(ScenarioError) as err:
        load_file(path, rules.kb)
    assert f"{path}:6: scenario 'An agency with posters" in str(err.value)
    assert "unknown key 'expect.stauts'" in str(err.value)


def test_an_unknown_scenario_key_and_a_duplicate_key_are_refused(
    tmp_path: Path, rules: DVRules, posters_id: str
) -> None:
    path = _write(tmp_path, _good(posters_id).replace("    answers:", "    answer:"))
    with pytest.raises(ScenarioError, match=r"demo.yaml:4: .*unknown key 'answer'"):
        load_file(path, rules.kb)
    path = _write(tmp_path, _good(posters_id) + "    name: again\n")
    with pytest.raises(ScenarioError, match=r"demo.yaml:\d+: not valid YAML.*duplicate key"):
        load_file(path, rules.kb)


def test_ids_the_knowledge_does_not_have_are_refused(tmp_path: Path, rules: DVRules) -> None:
    text = GOOD.replace("ms.posters", "ms.postres") + "      not_asked: [website_infromation]\n"
    with pytest.raises(ScenarioError) as err:
        load_file(_write(tmp_path, text), rules.kb)
    assert "'ms.postres' is not an outcome of flow minimum-standards" in str(err.value)
    assert "'website_infromation' is not a question of flow minimum-standards" in str(err.value)


def test_a_case_with_nothing_to_check_is_refused(tmp_path: Path, rules: DVRules) -> None:
    text = GOOD.replace("      status: {ms.posters: met}\n", "      status: {}\n")
    with pytest.raises(ScenarioError, match="demo.yaml:3: .*expect has no check"):
        load_file(_write(tmp_path, text), rules.kb)


def test_kb_test_reports_each_failure_on_one_line_with_file_line_and_exits_1(
    tmp_path: Path, posters_id: str
) -> None:
    wrong = _good(posters_id).replace(": met}", ": not_met}")
    path = _write(tmp_path, wrong + _good(posters_id).split("scenarios:\n")[1])
    res = _dvrules("kb", "test", str(path), cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == (
        f"scenarios/demo.yaml:3: FAIL An agency with posters in public areas meets the posters "
        f"standard: status {posters_id}: expected not_met, got met"
    )
    assert lines[-1] == "1 passed, 1 failed (of 2 scenarios)"
    assert _dvrules("kb", "test", str(path), "-k", "nothing like it", cwd=tmp_path).returncode == 1


def test_kb_test_passes_the_shipped_scenarios_and_filters_by_name() -> None:
    res = _dvrules("kb", "test", "-k", "posters", cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert re.fullmatch(r"[1-9]\d* passed, 0 failed \(of [1-9]\d* scenarios\)\n", res.stdout)


def test_kb_test_refuses_a_malformed_file_with_exit_1(tmp_path: Path, posters_id: str) -> None:
    path = _write(tmp_path, _good(posters_id).replace("status:", "stauts:"))
    res = _dvrules("kb", "test", str(path), cwd=tmp_path)
    assert res.returncode == 1
    assert "scenarios/demo.yaml:6: scenario 'An agency" in res.stderr
    assert "Traceback" not in res.stderr


def test_the_pytest_plugin_reports_file_line_name_and_difference(
    tmp_path: Path, posters_id: str
) -> None:
    path = _write(tmp_path, _good(posters_id).replace(": met}", ": unknown}"))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.scenario_plugin", "-p", "no:cacheprovider"]
        + ["-q", "--rootdir", str(tmp_path), str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 1, res.stdout
    assert f"{path}:3: An agency with posters in public areas" in res.stdout
    assert f"status {posters_id}: expected unknown, got met" in res.stdout
    bad = _write(tmp_path, _good(posters_id).replace("status:", "stauts:"))
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.scenario_plugin", "-p", "no:cacheprovider"]
        + ["-q", "--rootdir", str(tmp_path), str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0 and "unknown key 'expect.stauts'" in res.stdout
