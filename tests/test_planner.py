"""The question planner asks only what can still change a referral, an action, a warning or the
risk level, and never stops while something that matters could still change.

Answer sets are against the shipped knowledge; every evaluation goes through the real engine.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvrules import DVRules

FLOW = "referral"
ADULT_VICTIM = {
    "immediate_danger": False,
    "safe_to_talk": True,
    "role": "housing",
    "person": "victim",
    "victim_age_band": "18_plus",
    "victim_gender": "female",
    "relationship": "intimate_partner",
    "dash_done_elsewhere": True,
    "dash_yes_count": 4,
}


def test_once_the_risk_is_high_a_question_that_could_only_raise_it_is_not_asked(
    rules: DVRules,
) -> None:
    # A repeat MARAC referral only makes the risk high and the MARAC referral due: both are
    # settled once the worker judges the risk high.
    judged_high = {
        **ADULT_VICTIM,
        "professional_judgement_high": True,
        "professional_judgement_reason": "escalation",
    }
    assert "previous_marac_within_12_months" not in rules.wanted_questions(FLOW, judged_high)
    assert "police_callouts_12_months" not in rules.wanted_questions(FLOW, judged_high)
    not_high = {**ADULT_VICTIM, "professional_judgement_high": False}
    assert "previous_marac_within_12_months" in rules.wanted_questions(FLOW, not_high)
    assert "police_callouts_12_months" in rules.wanted_questions(FLOW, not_high)


def test_a_question_that_only_fills_a_gap_is_not_asked_but_its_gap_shows_when_answered(
    rules: DVRules,
) -> None:
    assert "safety_plan_in_place" not in rules.wanted_questions(FLOW, ADULT_VICTIM)
    result = rules.assess(FLOW, {**ADULT_VICTIM, "safety_plan_in_place": False})
    assert "gap.no_safety_plan" in [g.id for g in result.gaps]  # type: ignore[union-attr]


def test_after_dont_know_nothing_that_rests_on_it_is_asked(rules: DVRules) -> None:
    # The reason for a judgement of high risk only matters with that judgement: after "don't
    # know" to the judgement, no reason can make anything hold.
    unsure = {**ADULT_VICTIM, "professional_judgement_high": None}
    assert "professional_judgement_reason" not in rules.wanted_questions(FLOW, unsure)
    judged_high = {**ADULT_VICTIM, "professional_judgement_high": True}
    assert "professional_judgement_reason" in rules.wanted_questions(FLOW, judged_high)


def test_an_urgency_is_not_asked_about_for_a_referral_that_does_not_apply(rules: DVRules) -> None:
    # The supervised-contact referral needs the abuser to see the children; with no children
    # at home nothing about it is asked.
    no_children = {**ADULT_VICTIM, "children_in_household": False}
    assert "child_contact_with_abuser" not in rules.wanted_questions(FLOW, no_children)
    with_children = {**ADULT_VICTIM, "children_in_household": True}
    assert "child_contact_with_abuser" in rules.wanted_questions(FLOW, with_children)


def test_the_interview_goes_on_after_a_provisional_result(rules: DVRules) -> None:
    answers = {"immediate_danger": True}
    result = rules.assess(FLOW, answers)
    assert result.do_now and not result.complete  # type: ignore[union-attr]
    q = rules.next_question(FLOW, answers)
    assert q is not None and q.progress is not None and q.progress.remaining > 0


def test_assessment_flows_still_ask_every_question_that_decides_a_requirement(
    rules: DVRules,
) -> None:
    # Gaps and requirements are what a self-assessment is for: the referral rule does not apply.
    flow = "minimum-standards"
    first = rules.kb.flow(flow).questions[0]
    assert rules.wanted_questions(flow, {})[0] == first


# ---------------------------------------------------------------------- soundness


def _what_matters(rules: DVRules, answers: dict[str, Any]) -> dict[str, Any]:
    """Everything the planner promises not to leave open: referrals and their urgency,
    actions, warnings and the risk level."""
    result = rules.assess(FLOW, answers, checked=True)
    return {
        "referrals": [(r.id, r.urgency) for r in result.referrals],  # type: ignore[union-attr]
        "actions": [a.id for a in result.actions],  # type: ignore[union-attr]
        "warnings": [w.id for w in result.warnings],  # type: ignore[union-attr]
        "level": result.risk.level,
    }  # type: ignore[union-attr]


def _values(rules: DVRules, qid: str) -> list[Any]:
    q = rules.kb.questions[qid]
    if q.type == "yes_no":
        return [True, False]
    if q.type in ("number", "integer"):
        lo, hi = int(q.min or 0), int(q.max if q.max is not None else 30)
        return sorted({lo, hi, (lo + hi) // 2, 1, 3, 9, 10, 13, 14} & set(range(lo, hi + 1)))
    ids = [c.id for c in rules.kb.choices(q)]
    return ids if q.type == "choice" else [[], ids]


def _person(rules: DVRules) -> st.SearchStrategy[dict[str, Any]]:
    fields = {
        qid: st.one_of(st.none(), st.sampled_from(_values(rules, qid)))
        for qid in rules.kb.flow(FLOW).questions
    }
    return st.fixed_dictionaries(fields)


def test_when_the_planner_stops_no_unasked_question_could_change_what_matters(
    rules: DVRules,
) -> None:
    """Replay an interview for a random person; at its end, answering any question it did not
    ask, with any value, leaves referrals, urgencies, actions, warnings and risk level as they
    are."""

    @settings(
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(_person(rules), st.data())
    def check(person: dict[str, Any], data: st.DataObject) -> None:
        given_: dict[str, Any] = {}
        while (q := rules.next_question(FLOW, given_)) is not None:
            given_[q.id] = person[q.id]
        before = _what_matters(rules, given_)
        unasked = [qid for qid in rules.kb.flow(FLOW).questions if qid not in given_]
        for qid in (
            data.draw(
                st.lists(st.sampled_from(unasked), min_size=1, max_size=6, unique=True),
                label="unasked",
            )
            if unasked
            else []
        ):
            for value in _values(rules, qid):
                assert _what_matters(rules, {**given_, qid: value}) == before, (qid, value)

    check()
