"""The referral result a frontline worker reads first: ``do_now``, the consent rule once, the
judgement reason they chose, MARAC criteria by title, and whether the result is provisional.

Answer sets are against the shipped knowledge and go through the real rules engine.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from dvrules import DVRules, Session, default_rules
from dvrules.results import DO_NOW_STEPS, ReferralResult, cite

from .conftest import extreme_answers

ADULT_VICTIM = {
    "immediate_danger": False,
    "safe_to_talk": True,
    "role": "health",
    "person": "victim",
    "victim_age_band": "18_plus",
    "victim_gender": "female",
    "relationship": "intimate_partner",
}
# High risk by professional judgement, children at home, a forced marriage: more same-day
# referrals than fit on one screen.
CROWDED = {
    **ADULT_VICTIM,
    "children_in_household": True,
    "dash_done_elsewhere": True,
    "dash_yes_count": 5,
    "professional_judgement_high": True,
    "professional_judgement_reason": "perpetrator_release",
    "forced_marriage": True,
    "honour_based": True,
    "consent_to_share": "yes",
}


def referral(rules: DVRules, answers: dict[str, Any]) -> ReferralResult:
    result = rules.assess("referral", answers)
    assert isinstance(result, ReferralResult)
    return result


def interview(rules: DVRules, person: dict[str, Any]) -> dict[str, Any]:
    """Answer every question the planner asks from ``person`` (unlisted: don't know)."""
    given: dict[str, Any] = {}
    while (q := rules.next_question("referral", given)) is not None:
        given[q.id] = person.get(q.id)
        assert len(given) < 200
    return given


# ---------------------------------------------------------------------- do_now


def test_immediate_danger_puts_999_first_with_its_number(rules: DVRules) -> None:
    result = referral(rules, {**CROWDED, "immediate_danger": True})
    first = result.do_now[0]
    assert first.referral == "emergency_999" and first.urgency == "immediate"
    assert [c.phone for c in first.contacts] == ["999"]
    assert len(result.do_now) <= DO_NOW_STEPS


def test_without_immediate_danger_there_is_no_999_step(rules: DVRules) -> None:
    result = referral(rules, CROWDED)
    assert all(s.referral != "emergency_999" for s in result.do_now)


def test_do_now_holds_only_same_day_referrals_in_result_order(rules: DVRules) -> None:
    result = referral(rules, CROWDED)
    same_day = [r.id for r in result.referrals if r.urgency in ("immediate", "today")]
    assert len(same_day) > DO_NOW_STEPS  # the case is crowded: the cap matters
    assert len(result.do_now) == DO_NOW_STEPS
    in_steps = [rid for s in result.do_now for rid in (s.referral, *s.also)]
    assert all(s.urgency in ("immediate", "today") for s in result.do_now)
    # the steps follow the referrals' order (urgency, then the knowledge's order)
    assert in_steps == [rid for rid in same_day if rid in in_steps]
    assert in_steps == same_day[: len(in_steps)]


def test_marac_and_idva_are_one_step_naming_the_criteria_and_the_chosen_reason(
    rules: DVRules,
) -> None:
    result = referral(rules, CROWDED)
    step = next(s for s in result.do_now if s.referral == "marac")
    assert step.also == ["idva"]
    label = next(
        c.label
        for c in rules.kb.choices(rules.kb.questions["professional_judgement_reason"])
        if c.id == "perpetrator_release"
    )
    assert label in step.text
    criterion = rules.kb.outcomes["marac.professional_judgement"].title
    assert criterion in step.text


def test_a_routine_only_result_still_tells_the_worker_what_to_do(rules: DVRules) -> None:
    person = {
        **ADULT_VICTIM,
        "dash_done_elsewhere": True,
        "dash_yes_count": 3,
        "professional_judgement_high": False,
        "police_callouts_12_months": 0,
        "previous_marac_within_12_months": False,
    }
    result = referral(rules, interview(rules, person))
    assert result.complete
    assert all(r.urgency == "routine" for r in result.referrals)
    assert 1 <= len(result.do_now) <= DO_NOW_STEPS
    assert [s.referral for s in result.do_now] == [r.id for r in result.referrals][
        : len(result.do_now)
    ]


def test_a_step_carries_the_contacts_of_its_referrals(rules: DVRules) -> None:
    result = referral(rules, CROWDED)
    by_id = {r.id: r for r in result.referrals}
    for step in result.do_now:
        wanted = {c.id for rid in (step.referral, *step.also) for c in by_id[rid].contacts}
        assert {c.id for c in step.contacts} == wanted
    fmu = next(s for s in result.do_now if s.referral == "forced_marriage_unit")
    assert fmu.contacts and fmu.contacts[0].name


def test_a_local_area_names_its_own_services_in_the_steps() -> None:
    local = default_rules("barnet")
    result = referral(local, CROWDED)
    assert any(c.local for s in result.do_now for c in s.contacts)


# ---------------------------------------------------------------------- consent once


@pytest.mark.parametrize(
    "answers",
    [CROWDED, {**CROWDED, "immediate_danger": True}],
    ids=["high risk", "immediate danger"],
)
def test_the_consent_rule_is_stated_once(rules: DVRules, answers: dict[str, Any]) -> None:
    result = referral(rules, answers)
    assert result.consent is not None and len(result.consent.applies_to) > 1
    text = json.dumps(result.model_dump())
    assert text.count(json.dumps(result.consent.text)) == 1
    for r in result.referrals:
        assert r.consent_shared == (r.id in result.consent.applies_to)
        assert r.consent != result.consent.text
        if r.consent_shared:
            assert r.consent is None


def test_the_consent_rule_cites_where_the_rule_comes_from_not_a_referral(rules: DVRules) -> None:
    result = referral(rules, CROWDED)
    assert result.consent is not None
    assert result.consent.source == {
        "document": "frontline_practice_notes",
        "section": "Sharing without consent",
    }


def test_the_shared_consent_rule_is_the_general_one_whatever_the_referrals(rules: DVRules) -> None:
    # A friend's result has few referrals, each with a rule of its own or the general one:
    # the rule stated once is always the general rule, never one referral's special case.
    general = {p.consent for p in rules.kb.outcomes_of("referral", "pathways")}
    results = [
        referral(rules, a)
        for a in (
            CROWDED,
            {**ADULT_VICTIM, "person": "concerned_other"},
            {"immediate_danger": True},
        )
    ]
    shared = {r.consent.text for r in results if r.consent is not None}
    assert len(shared) == 1 and shared <= general


def test_a_referral_with_its_own_consent_rule_keeps_it(rules: DVRules) -> None:
    result = referral(rules, {**CROWDED, "immediate_danger": True})
    call = next(r for r in result.referrals if r.id == "emergency_999")
    assert call.consent and not call.consent_shared
    assert call.consent == rules.kb.outcomes["pathway.emergency_999"].consent


# ---------------------------------------------------------------------- risk: judgement, titles


def test_the_chosen_judgement_reason_is_shown_by_its_label(rules: DVRules) -> None:
    result = referral(rules, CROWDED)
    risk = result.risk
    assert risk.judgement_reason_id == "perpetrator_release"
    assert risk.judgement_reason and "released" in risk.judgement_reason
    assert any(risk.judgement_reason in line for line in risk.because)


def test_no_judgement_reason_without_a_judgement_of_high_risk(rules: DVRules) -> None:
    result = referral(rules, {**CROWDED, "professional_judgement_high": False})
    assert result.risk.judgement_reason is None
    assert result.risk.judgement_reason_id is None


def test_marac_criteria_come_with_their_titles(rules: DVRules) -> None:
    result = referral(rules, {**CROWDED, "police_callouts_12_months": 5})
    risk = result.risk
    assert [c.id for c in risk.marac_criteria_met] == risk.marac_criteria
    assert set(risk.marac_criteria) == {"professional_judgement", "potential_escalation"}
    for c in risk.marac_criteria_met:
        assert c.title == rules.kb.outcomes[f"marac.{c.id}"].title and c.because


# Fields read by machines only; every other string in a result is read by a person.
MACHINE_KEYS = {
    "id",
    "referral",
    "also",
    "marac_criteria",
    "judgement_reason_id",
    "applies_to",
    "source",
    "urgency",
    "level",
    "flow",
    "knowledge_version",
    "phone",
    "url",
    "last_reviewed",
}


def _human_text(value: Any, key: str = "") -> list[str]:
    if key in MACHINE_KEYS:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in _human_text(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in _human_text(v, key)]
    return []


def _raw_ids(rules: DVRules) -> set[str]:
    ids = set(rules.kb.questions) | set(rules.kb.values)
    for o in rules.kb.outcomes.values():
        ids |= {o.id, o.id.rsplit(".", 1)[-1]}
    for q in rules.kb.questions.values():
        ids |= {c.id for c in rules.kb.choices(q)}
    return {i for i in ids if "_" in i or "." in i}  # plain words such as "stalking" are fine


@pytest.mark.parametrize("case", ["crowded", "immediate danger", "every yes", "every no"])
def test_no_raw_ids_in_text_a_person_reads(rules: DVRules, case: str) -> None:
    answers = {
        "crowded": CROWDED,
        "immediate danger": {**CROWDED, "immediate_danger": True},
        "every yes": extreme_answers(rules, "referral", True),
        "every no": extreme_answers(rules, "referral", False),
    }[case]
    texts = _human_text(referral(rules, answers).model_dump())
    pattern = re.compile(
        r"(?<![\w.])("
        + "|".join(map(re.escape, sorted(_raw_ids(rules), key=len, reverse=True)))
        + r")(?![\w.])"
    )
    leaked = sorted({m.group(1) for t in texts for m in pattern.finditer(t)})
    assert leaked == []


# ---------------------------------------------------------------------- provisional results


def test_referrals_that_apply_are_there_after_the_first_safety_question(rules: DVRules) -> None:
    result = referral(rules, {"immediate_danger": True})
    assert not result.complete and result.questions_remaining > 0
    assert result.do_now[0].referral == "emergency_999"
    assert rules.next_question("referral", {"immediate_danger": True}) is not None


def test_a_session_gives_a_provisional_result_then_a_complete_one(rules: DVRules) -> None:
    s = Session(rules, "referral", "case-r8-1")
    s.answer("immediate_danger", False)
    early = s.result()
    assert isinstance(early, ReferralResult) and not early.complete
    person = {**CROWDED, "police_callouts_12_months": 0, "previous_marac_within_12_months": False}
    while (q := s.next_question()) is not None:
        s.answer(q.id, person.get(q.id))
    final = s.result()
    assert isinstance(final, ReferralResult)
    assert final.complete and final.questions_remaining == 0
    assert 1 <= len(final.do_now) <= DO_NOW_STEPS


def test_questions_remaining_counts_what_the_planner_still_wants(rules: DVRules) -> None:
    answers = {k: v for k, v in CROWDED.items() if k != "forced_marriage"}
    result = referral(rules, answers)
    assert result.questions_remaining == len(rules.wanted_questions("referral", answers))
    assert result.questions_remaining > 0 and not result.complete


# ---------------------------------------------------------------------- local services, citations


def test_a_referral_says_how_to_find_the_local_service_only_when_none_is_named(
    rules: DVRules,
) -> None:
    marac = rules.kb.outcomes["pathway.marac"]
    how = marac.find_local  # type: ignore[union-attr]
    assert how
    national = next(r for r in referral(rules, CROWDED).referrals if r.id == "marac")
    assert national.find_local == how
    step = next(s for s in referral(rules, CROWDED).do_now if s.referral == "marac")
    assert step.find_local and how in step.find_local
    named = next(r for r in referral(default_rules("barnet"), CROWDED).referrals if r.id == "marac")
    assert any(c.local for c in named.contacts) and named.find_local is None


def test_an_outside_source_is_cited_with_its_url_and_when_it_was_checked(rules: DVRules) -> None:
    answers = [
        CROWDED,
        {**CROWDED, "immediate_danger": True},
        extreme_answers(rules, "referral", True),
        extreme_answers(rules, "referral", False),
    ]
    cited = [src for a in answers for src in _sources(referral(rules, a).model_dump())]
    outside = {d.id for d in rules.kb.documents.values() if d.kind == "fact_sheet"}
    assert outside
    from_outside = [s for s in cited if s["document"] in outside]
    from_outside += [
        cite(o.source) for o in rules.kb.outcomes_of("referral") if o.source.document in outside
    ]
    assert from_outside, "nothing in the referral flow cites the fact sheet"
    assert all(s.get("url") and s.get("last_reviewed") for s in from_outside)


def _sources(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        found = [value["source"]] if isinstance(value.get("source"), dict) else []
        return found + [s for k, v in value.items() if k != "source" for s in _sources(v)]
    if isinstance(value, list):
        return [s for v in value for s in _sources(v)]
    return []


def test_every_first_step_carries_its_reasons_and_names_the_item_with_its_source(
    rules: DVRules,
) -> None:
    from dvrules.chat import Composer
    from dvrules.chat.messages import plain_text

    result = referral(rules, {**CROWDED, "immediate_danger": True})
    assert result.do_now
    for step in result.do_now:
        assert step.because and step.source
        ref = next(r for r in result.referrals if r.id == step.referral)
        assert set(ref.why) <= set(step.because)
    view = Composer(rules.kb).result_view(result, complete=True)
    first = plain_text(view.pages["Do now"])
    for step in result.do_now:
        n = [r.id for r in result.referrals].index(step.referral) + 1
        assert f"[item {n}]" in first
        assert view.items[n - 1].id == step.referral and view.items[n - 1].source == step.source
