"""Health of the self-assessment flows of issue 11: what their users rely on beyond the
scenario files (the shortfall shown beside a yardstick, guidance said to be guidance, one lead
agency's recommendations only, no contact details from the commissioning brief)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from dvrules import DVRules

from .conftest import ROOT, SEEDS


def _row(result: Any, item: str) -> Any:
    return next(r for r in result.requirements if r.id == item)


def test_provision_shows_the_rate_the_yardstick_and_the_shortfall(rules: DVRules) -> None:
    result = rules.assess(
        "provision",
        {
            "population": 250000,
            "idva_fte": 9.9,
            "adult_women": 100000,
            "marac_cases_per_year": 399,
            "marac_coordinator_fte": 0,
        },
    )
    assert _row(result, "provision.idva_per_100k").because == [
        "IDVA posts per 100,000 population: 3.96 (needs at least 4)",
        "IDVA posts missing against 4 per 100,000 population: 0.1 (needs at most 0)",
    ]
    assert _row(result, "provision.marac_volume").because == [
        "MARAC cases a year per 10,000 adult women: 39.9 (needs at least 40)",
        "MARAC cases a year missing against 40 per 10,000 adult women: 1 (needs at most 0)",
    ]
    assert _row(result, "provision.referrals_per_idva").because == [
        "MARAC cases a year per full-time IDVA: 40.3 (needs at most 100)",
        "IDVA posts missing against about 100 cases a year per full-time IDVA: 0 (needs at most 0)",
    ]
    assert _row(result, "provision.marac_admin").because[-1] == (
        "MARAC administrator posts missing against one per 400 cases a year: 0.998 "
        "(needs at most 0)"
    )


def test_provision_yardsticks_say_they_are_guidance_and_name_their_date(rules: DVRules) -> None:
    kb = rules.kb
    for rid in (
        "provision.idva_per_100k",
        "provision.marac_volume",
        "provision.referrals_per_idva",
        "provision.marac_admin",
    ):
        r = kb.outcomes[rid]
        assert "guidance" in r.title.lower() and "not a statutory standard" in (r.help or "")
        assert "defn.provision.guidance_not_statute" in r.definitions
        doc = kb.documents[r.source.document]
        assert doc.kind == "outside" and r.source.date == str(doc.year), rid
    assert "not" in kb.definitions["defn.provision.guidance_not_statute"].text


def _numbers(text: str) -> str:
    """Thousands written 815,000 or 815 000 read alike."""
    return re.sub(r"(?<=\d)[ ,](?=\d{3}\b)", "", text)


def test_reference_facts_quote_figures_only_as_the_documents_give_them(rules: DVRules) -> None:
    """Every number in the cost and target facts occurs in the document it cites."""
    if not SEEDS.is_dir():
        pytest.skip("source documents are not beside this checkout")
    kb = rules.kb
    facts = [d for d in kb.definitions.values() if d.id.startswith(("defn.cost.", "defn.target."))]
    assert len(facts) >= 8
    for d in facts:
        seed = _numbers(
            (SEEDS / kb.documents[d.source.document].seed_file).read_text(encoding="utf-8")
        )
        for amount in re.findall(r"\d[\d,]*(?:\.\d+)?", _numbers(d.text)):
            assert amount in seed, f"{d.id}: {amount} is not in {d.source.document}"


def test_no_contact_details_from_the_commissioning_brief_are_encoded() -> None:
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge").glob("*.yaml"))
    )
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an e-mail address in knowledge"
    assert not re.search(r"\b0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}\b", text), "a phone number"


def test_ldvs2_recommendations_ask_only_the_chosen_agency(rules: DVRules) -> None:
    """Every recommendation question is gated on one lead agency, and its requirement applies
    to that same agency only; every agency in the choice has at least one recommendation."""
    kb = rules.kb
    flow = kb.flow("ldvs2-recommendations")
    assert flow.questions[0] == "agency"
    agencies = {c.id for c in kb.choices(kb.questions["agency"])}
    assert len(agencies) == 19
    gated: dict[str, str] = {}
    for qid in flow.questions[1:]:
        gate = kb.questions[qid].ask_when
        assert gate is not None and gate.answer == "agency" and gate.is_ in agencies, qid
        gated[qid] = gate.is_
    reqs = [o for o in kb.outcomes_of("ldvs2-recommendations", "requirements")]
    assert len(reqs) == len(gated) >= 200
    for r in reqs:
        assert r.applies_when is not None and r.applies_when.is_ == gated[r.when.answer], r.id
        assert r.id.split(".")[1] in {"a1", "a2", "a3", "a4", "sd"}, r.id
    assert set(gated.values()) == agencies


def test_ldvs2_result_for_one_agency_holds_none_of_the_others(rules: DVRules) -> None:
    result = rules.assess("ldvs2-recommendations", {"agency": "cafcass"})
    ids = [r.id for r in result.requirements]
    assert ids and all(".cafcass." in i for i in ids)
    assert all(".cafcass." in g.id for g in result.gaps)
    assert rules.next_question("ldvs2-recommendations", {"agency": "cafcass"}).id.startswith(
        "rec_cafcass_"
    )


def test_police_brief_asks_every_question_of_the_brief_in_its_groups(rules: DVRules) -> None:
    """53 questions in the brief's nine groups (12, 7, 12, 6, 4, 5, 4, 2, 1) plus the equality
    paragraph that Section C requires of every report."""
    kb = rules.kb
    questions = kb.flow("police-brief").questions
    assert len(questions) == 54
    sections = [kb.questions[q].source.section for q in questions]
    assert sections.count("Resources") == 12
    assert sections.count("Policy compliance, implementation and quality assurance") == 7
    assert sections.count("Crime and Disorder Reduction Partnerships (CDRP)") == 6
    assert sections.count("Partnership working") == 4
    assert sections.count("Training") == 5
    assert sections.count("Employee Domestic Violence") == 4
    assert sections.count("Project Umbra") == 2
    assert sections.count("Interface with the Met Modernisation Programme") == 1
    assert all(
        kb.questions[q].type != "multi_choice" or kb.questions[q].choices_from for q in questions
    )


def test_police_brief_never_asks_for_a_name(rules: DVRules) -> None:
    for q in rules.kb.flow("police-brief").questions:
        text = rules.kb.questions[q].text.lower()
        assert "what is their name" not in text and "name of" not in text, q
    assert "do not enter" in rules.kb.questions["bocu_dv_champion"].text.lower()


@pytest.mark.parametrize(
    "flow", ["police-brief", "ldvs2-recommendations", "nice-qs116", "marac-principles", "provision"]
)
def test_engine_agrees_with_the_reference_evaluator_on_the_new_flows(
    rules: DVRules, flow: str
) -> None:
    """Random answers around every threshold (as tests/test_crosscheck.py does for the first
    four flows): durable_rules and the plain-Python evaluator decide every item alike."""
    from hypothesis import HealthCheck, given, settings

    from .test_crosscheck import _answers, _check

    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_answers(rules, flow))
    def check(answers: dict[str, Any]) -> None:
        _check(rules, flow, answers)

    check()


def test_no_person_named_in_the_commissioning_brief_is_encoded() -> None:
    """The people the brief names as contacts are read from the seed at test time (so their
    names are not copied into this repository either) and must appear nowhere in knowledge."""
    if not SEEDS.is_dir():
        pytest.skip("source documents are not beside this checkout")
    mpa = (SEEDS / "003_27aaa2610e97007b.txt").read_text(encoding="utf-8")
    brief = mpa[mpa.index("APPENDIX 3: MPA") : mpa.index("APPENDIX 4:")]
    lines = brief.splitlines()
    names = {
        re.sub(r"^\W+", "", prev).split(",")[0].strip()
        for prev, line in zip(lines, lines[1:])
        if line.strip().startswith("Tel")
    }
    names |= set(re.findall(r"contact ([A-Z][a-z]+ [A-Z][a-z]+)", brief))
    names = {n for n in names if re.fullmatch(r"[A-Z][\w.]*( [A-Z][\w.]*)+", n)}
    assert len(names) >= 6, names  # the contacts were found
    text = "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge").rglob("*.yaml"))
    )
    for name in names:
        surname = name.split()[-1]
        assert not re.search(rf"\b{re.escape(surname)}\b", text), (
            "a person named in the brief appears in knowledge"
        )
