"""The guided interview (``Session``) over the real knowledge and the real rules engine.

Each test drives a session the way a channel does (next question, answer, back, skip, change)
and checks what a co-ordinator relies on: the order, the skip logic, that a correction leaves
nothing stale, that a refusal changes nothing, and that a stopped interview resumes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from dvrules import AnswerError, DVRules, Session, SessionError, TinyDBStore

from .conftest import extreme_answers

# ---------------------------------------------------------------------- helpers


def mixed_answers(rules: DVRules, flow: str, seed: int) -> dict[str, Any]:
    """A reproducible mix: each question best, worst, in between, or don't know."""
    rnd = random.Random(seed)
    best, worst = extreme_answers(rules, flow, True), extreme_answers(rules, flow, False)
    out: dict[str, Any] = {}
    for qid, q in ((i, rules.kb.questions[i]) for i in rules.kb.flow(flow).questions):
        pick = rnd.choice(["best", "worst", "middle", "dont_know"])
        if pick == "dont_know":
            out[qid] = None
        elif pick == "middle" and q.type in ("number", "integer"):
            out[qid] = rnd.randint(int(q.min or 0), int(q.max if q.max is not None else 12))
        elif pick == "middle" and q.type in ("choice", "multi_choice"):
            ids = [c.id for c in rules.kb.choices(q)]
            out[qid] = (
                rnd.choice(ids)
                if q.type == "choice"
                else sorted(rnd.sample(ids, rnd.randint(0, len(ids))), key=ids.index)
            )
        else:
            out[qid] = (best if pick == "best" else worst)[qid]
    return out


def interview(s: Session, answers: dict[str, Any], stop_after: int | None = None) -> list[str]:
    """Answer what the session asks from ``answers`` (absent = don't know); the ids asked."""
    asked: list[str] = []
    while (q := s.next_question()) is not None:
        if stop_after is not None and len(asked) == stop_after:
            break
        assert q.id not in asked, f"{q.id} asked twice"
        asked.append(q.id)
        s.answer(q.id, answers.get(q.id))
        assert len(asked) <= 200, "the interview does not end"
    return asked


def status(result: Any, item: str) -> str:
    return next(
        r.status for r in [*result.requirements, *(result.monitoring or [])] if r.id == item
    )


@pytest.fixture
def store(store_dir: Path) -> TinyDBStore:
    return TinyDBStore()


# ---------------------------------------------------------------------- order and skip logic


@pytest.mark.parametrize("flow", ["cdrp", "bvpi225", "minimum-standards"])
def test_questions_come_in_the_flows_order(rules: DVRules, store: TinyDBStore, flow: str) -> None:
    order = rules.kb.flow(flow).questions
    for seed in range(3):
        s = Session(rules, flow, f"case-{seed}", store)
        asked = interview(s, mixed_answers(rules, flow, seed))
        assert asked == sorted(asked, key=order.index)


def test_minimum_standards_asks_all_nine_in_order(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "minimum-standards", "case-1", store)
    asked = interview(s, extreme_answers(rules, "minimum-standards", True))
    assert asked == [
        "posters_in_public_areas",
        "information_in_three_languages_or_formats",
        "website_information",
        "staff_training",
        "dv_personnel_policy",
        "public_role_statement",
        "named_lead_in_job_description",
        "response_monitoring_and_data_sharing",
        "partnership_developments_communicated",
    ]
    assert s.result().summary == {"met": 9, "total": 9}


@pytest.mark.parametrize("allocated", [True, False])
def test_the_budget_share_is_asked_only_when_a_budget_is_allocated(
    rules: DVRules, store: TinyDBStore, allocated: bool
) -> None:
    answers = extreme_answers(rules, "cdrp", True)
    answers["forum_budget_allocated"] = allocated
    asked = interview(Session(rules, "cdrp", "case-1", store), answers)
    assert ("forum_budget_share_percent" in asked) is allocated
    if allocated:
        i = asked.index("forum_budget_allocated")
        assert asked[i + 1] == "forum_budget_share_percent"


def test_after_no_budget_the_next_question_is_not_the_share(
    rules: DVRules, store: TinyDBStore
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    order = rules.kb.flow("cdrp").questions
    for qid in order[: order.index("forum_budget_allocated")]:
        s.answer(qid, None)
    assert s.next_question().id == "forum_budget_allocated"  # type: ignore[union-attr]
    s.answer("forum_budget_allocated", False)
    assert s.next_question().id == "forum_safeguarding_board_link"  # type: ignore[union-attr]
    s.change("forum_budget_allocated", True)
    assert s.next_question().id == "forum_budget_share_percent"  # type: ignore[union-attr]


@pytest.mark.parametrize("independent", [True, False, None])
def test_advocates_are_counted_only_when_there_may_be_an_independent_service(
    rules: DVRules, store: TinyDBStore, independent: bool | None
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("advocacy_service_independent", independent)
    next_id = s.next_question().id  # type: ignore[union-attr]
    # "don't know" keeps the count worth asking: it can still decide the requirement
    assert (next_id == "advocates_fte") is (independent is not False)
    asked = ["advocacy_service_independent", *interview(s, {})]
    assert ("advocates_fte" in asked) is (independent is not False)
    if independent is False:
        for level in (1, 2, 3):
            assert status(s.result(), f"cdrp.l{level}.independent_advocacy") == "not_met"


def test_a_question_shows_what_a_channel_needs(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("advocacy_service_independent", True)
    q = s.next_question()
    assert q is not None and q.id == "advocates_fte"
    assert q.type == "number" and q.text.endswith("?")
    assert q.allowed == "a number of 0 or more"
    assert q.source["document"] == "ldvs2" and q.source["section"]
    assert q.progress is not None and q.progress.answered == 1 and q.progress.remaining >= 1


# ---------------------------------------------------------------------- back, skip, change


def test_back_shows_the_previous_question_again_and_keeps_every_answer(
    rules: DVRules, store: TinyDBStore
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("advocacy_service_independent", True)
    s.answer("advocates_fte", 3)
    again = s.back()
    assert again.id == "advocates_fte" and s.revisiting == "advocates_fte"
    assert s.answers == {"advocacy_service_independent": True, "advocates_fte": 3}
    assert s.next_question().id == "advocates_fte"  # type: ignore[union-attr]
    assert s.back().id == "advocacy_service_independent"
    with pytest.raises(SessionError, match="no earlier question"):
        s.back()
    # answering the earlier question again keeps the later answer and carries on after it
    s.answer("advocacy_service_independent", True)
    assert s.revisiting is None
    assert s.answers == {"advocacy_service_independent": True, "advocates_fte": 3}
    nxt = s.next_question()
    assert nxt is not None and nxt.id not in ("advocacy_service_independent", "advocates_fte")
    stored = Session(rules, "cdrp", "case-1", TinyDBStore())
    assert stored.answers == s.answers  # stored, too


def test_undo_removes_the_last_answer(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("advocacy_service_independent", True)
    assert s.undo().id == "advocacy_service_independent"
    assert s.answers == {}
    with pytest.raises(SessionError, match="no earlier question"):
        s.undo()


def test_a_finished_session_can_be_reopened_and_amended(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "bvpi225", "case-2", store)
    while (q := s.next_question()) is not None:
        s.answer(q.id, None)
    first = s.answered_in_order()[0]
    assert s.revisit(first).id == first
    assert s.next_question().id == first  # type: ignore[union-attr]
    s.answer(first, rules.kb.questions[first].type == "yes_no" or None)
    assert s.next_question() is None
    with pytest.raises(SessionError, match="not answered"):
        s.revisit("no_such_question")


class CountingStore(TinyDBStore):
    """A real store that counts loads and saves."""

    loads = saves = 0

    def load(self, session_id):  # type: ignore[no-untyped-def]
        self.loads += 1
        return super().load(session_id)

    def save(self, session_id, record):  # type: ignore[no-untyped-def]
        self.saves += 1
        return super().save(session_id, record)


def test_a_turn_loads_once_and_saves_at_most_once(rules: DVRules, tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    s = Session(rules, "cdrp", "case-3", store)
    store.loads = store.saves = 0
    with s.turn():
        for _ in range(3):
            q = s.next_question()
            assert q is not None
            s.answer(q.id, None)
        s.result()
        s.progress()
    assert (store.loads, store.saves) == (1, 1)
    assert len(Session(rules, "cdrp", "case-3", store).answers) == 3


def test_skip_records_dont_know_and_the_requirement_stays_unknown(
    rules: DVRules, store: TinyDBStore
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.skip("arrest_rate_percent")
    assert s.answers == {"arrest_rate_percent": None}
    assert s.progress()["dont_know"] == 1
    result = s.result()
    for level in (1, 2, 3):
        row = next(r for r in result.requirements if r.id == f"cdrp.l{level}.arrest_rate")
        assert row.status == "unknown"
        assert row.questions == ["arrest_rate_percent"]
    assert all(lv.attained is False for lv in result.levels or [])
    # a skipped question is not asked again
    assert "arrest_rate_percent" not in interview(s, {})


def test_changing_an_earlier_answer_leaves_no_stale_outcome(
    rules: DVRules, store: TinyDBStore
) -> None:
    best = extreme_answers(rules, "cdrp", True)
    s = Session(rules, "cdrp", "case-1", store)
    interview(s, best)
    assert s.result().summary["level_attained"] == 3
    given = s.answers

    s.change("forum_budget_allocated", False)
    result = s.result()
    assert result.summary["level_attained"] == 0
    for item in (
        "cdrp.l1.forum_budget",
        "cdrp.l2.forum_budget_share",
        "cdrp.l3.forum_budget_share",
    ):
        assert status(result, item) == "not_met"
    # the same as a fresh assessment of the answers as they now stand
    assert result == rules.assess("cdrp", {**given, "forum_budget_allocated": False})
    assert s.answers["forum_budget_share_percent"] == 100  # kept, but moot

    s.change("forum_budget_allocated", True)  # the share given earlier counts again
    assert s.result().summary["level_attained"] == 3

    s.change("advocates_fte", 3.5)  # level three needs at least 4
    result = s.result()
    assert result.summary["level_attained"] == 2
    assert status(result, "cdrp.l2.independent_advocacy") == "met"
    assert status(result, "cdrp.l3.independent_advocacy") == "not_met"


def test_change_needs_an_earlier_answer(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    with pytest.raises(SessionError, match="not answered yet"):
        s.change("advocates_fte", 2)
    assert s.answers == {}


# ---------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("qid", "typed", "sentence"),
    [
        ("advocacy_service_independent", "maybe", "enter yes or no"),
        ("advocates_fte", "three", "enter a number of 0 or more"),
        ("advocates_fte", "-1", "enter a number of 0 or more"),
        ("named_dv_lead_agencies", "2.5", "enter a whole number of 0 or more"),
        ("arrest_rate_percent", "101", "enter a number from 0 to 100"),
        (
            "contact_centre",
            "gold",
            "enter one of: none, supported, supervised_handover, high_vigilance",
        ),
        ("sdvc", "9", "enter one of: none, readiness_evidence, in_place"),
    ],
)
def test_a_typed_answer_that_does_not_fit_is_refused_in_words_and_changes_nothing(
    rules: DVRules, store: TinyDBStore, qid: str, typed: str, sentence: str
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("councillor_dv_lead", True)
    before = {p.name: p.read_bytes() for p in store.directory.iterdir()}
    with pytest.raises(AnswerError) as err:
        s.answer_text(qid, typed)
    assert err.value.question_id == qid
    assert err.value.reason == sentence
    assert str(err.value) == f"{qid}: {sentence}"
    assert {p.name: p.read_bytes() for p in store.directory.iterdir()} == before
    assert Session(rules, "cdrp", "case-1", TinyDBStore()).answers == {"councillor_dv_lead": True}


def test_a_list_answer_naming_an_unknown_plan_is_refused(
    rules: DVRules, store: TinyDBStore
) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    with pytest.raises(AnswerError) as err:
        s.answer_text("plans_integrating_dv", "local_area_agreement, five_year_plan")
    assert "'five_year_plan' is not an option" in err.value.reason
    with pytest.raises(AnswerError):
        s.answer("plans_integrating_dv", ["local_area_agreement", "local_area_agreement"])
    with pytest.raises(AnswerError, match="no such question in flow cdrp"):
        s.answer("population", 100000)  # a bvpi225 question
    assert s.answers == {}


def test_typed_answers_are_read_as_people_type_them(rules: DVRules, store: TinyDBStore) -> None:
    s = Session(rules, "cdrp", "case-1", store)
    s.answer_text("advocacy_service_independent", " Yes ")
    s.answer_text("advocates_fte", "2.5")
    s.answer_text("named_dv_lead_agencies", "1,000")
    s.answer_text("contact_centre", "high_vigilance")
    s.answer_text("sdvc", "2")  # the second option by number
    s.answer_text("plans_integrating_dv", "local_area_agreement, local_policing_plan")
    s.answer_text("councillor_dv_lead", "don't know")
    assert s.answers == {
        "advocacy_service_independent": True,
        "advocates_fte": 2.5,
        "named_dv_lead_agencies": 1000,
        "contact_centre": "high_vigilance",
        "sdvc": "readiness_evidence",
        "plans_integrating_dv": ["local_area_agreement", "local_policing_plan"],
        "councillor_dv_lead": None,
    }


# ---------------------------------------------------------------------- resuming


def test_a_new_process_resumes_with_the_same_next_question(rules: DVRules, store_dir: Path) -> None:
    answers = mixed_answers(rules, "cdrp", 7)
    first = Session(rules, "cdrp", "case-1", TinyDBStore())
    asked = interview(first, answers, stop_after=12)
    expected_next = first.next_question()
    assert expected_next is not None

    restarted = DVRules()  # a fresh knowledge base and engine, as after a restart
    resumed = Session(restarted, "cdrp", "case-1", TinyDBStore())
    assert resumed.answers == {q: answers[q] for q in asked}
    assert resumed.next_question() == expected_next
    rest = interview(resumed, answers)
    assert rest[0] == expected_next.id
    whole = Session(rules, "cdrp", "case-2", TinyDBStore())
    assert interview(whole, answers) == asked + rest
    assert resumed.result() == whole.result()


def test_flows_of_one_session_keep_their_own_answers(rules: DVRules, store: TinyDBStore) -> None:
    Session(rules, "minimum-standards", "case-1", store).answer("staff_training", True)
    Session(rules, "cdrp", "case-1", store).answer("councillor_dv_lead", False)
    assert Session(rules, "minimum-standards", "case-1", store).answers == {"staff_training": True}
    assert Session(rules, "cdrp", "case-1", store).answers == {"councillor_dv_lead": False}


# ---------------------------------------------------------------------- prefill from bvpi225


def _bvpi225_answers(rules: DVRules) -> dict[str, Any]:
    """Everything achieved except questions 1 and 10: 9 of 11, a score of 81.8."""
    answers = extreme_answers(rules, "bvpi225", True)
    answers.update(
        directory_of_services=False,
        education_pack=False,
        district_council=False,
        refuge_places=30,
        population=250000,
    )
    return answers


def test_a_finished_bvpi225_score_is_prefilled_into_cdrp_and_not_asked(
    rules: DVRules, store: TinyDBStore
) -> None:
    answers = _bvpi225_answers(rules)
    bv = Session(rules, "bvpi225", "case-x", store)
    interview(bv, answers)
    assert bv.result().summary == {
        "yes": 9,
        "total": 11,
        "score": 81.8,
        "unknown": 0,
        "score_max": 81.8,
    }

    cdrp = Session(rules, "cdrp", "case-x", store)
    assert cdrp.answers == {"bvpi225_score": 81.8}
    assert cdrp.progress()["prefilled"] == ["bvpi225_score"]
    assert "bvpi225_score" not in interview(cdrp, extreme_answers(rules, "cdrp", True))
    result = cdrp.result()
    assert status(result, "cdrp.l2.bvpi225") == "met"  # 75 or more
    assert status(result, "cdrp.l3.bvpi225") == "not_met"  # needs 90
    assert result.summary["level_attained"] == 2

    other = Session(rules, "cdrp", "case-y", store)  # another session gets nothing
    assert other.answers == {}


def test_the_prefilled_score_follows_a_redone_bvpi225_but_not_over_a_persons_answer(
    rules: DVRules, store: TinyDBStore
) -> None:
    answers = _bvpi225_answers(rules)
    bv = Session(rules, "bvpi225", "case-x", store)
    interview(bv, answers)
    assert Session(rules, "cdrp", "case-x", store).answers["bvpi225_score"] == 81.8

    bv.change("directory_of_services", True)
    assert bv.next_question().id == "directory_lists_required_contacts"  # type: ignore[union-attr]
    assert Session(rules, "cdrp", "case-x", store).answers["bvpi225_score"] == 81.8  # unfinished
    interview(bv, {**answers, "directory_of_services": True})  # its definition checks: all yes
    assert bv.result().summary["score"] == 90.9
    assert Session(rules, "cdrp", "case-x", store).answers["bvpi225_score"] == 90.9

    cdrp = Session(rules, "cdrp", "case-x", store)
    cdrp.change("bvpi225_score", 60)
    bv.change("education_pack", True)
    interview(bv, {**answers, "directory_of_services": True, "education_pack": True})
    assert bv.result().summary["score"] == 100.0
    again = Session(rules, "cdrp", "case-x", store)
    assert again.answers["bvpi225_score"] == 60
    assert again.progress()["prefilled"] == []


def test_no_score_is_prefilled_from_an_unfinished_or_undecided_bvpi225(
    rules: DVRules, store: TinyDBStore
) -> None:
    answers = _bvpi225_answers(rules)
    bv = Session(rules, "bvpi225", "case-x", store)
    interview(bv, answers, stop_after=5)
    assert Session(rules, "cdrp", "case-x", store).answers == {}

    # finished, but with "don't know" for a whole question: its score would be a guess
    answers["training_groups"] = None
    bv2 = Session(rules, "bvpi225", "case-z", store)
    interview(bv2, answers)
    assert status(bv2.result(), "bvpi225.q11_training") == "unknown"
    cdrp = Session(rules, "cdrp", "case-z", store)
    assert "bvpi225_score" not in cdrp.answers
    assert cdrp.next_question().id == "advocacy_service_independent"  # type: ignore[union-attr]
    assert "bvpi225_score" in interview(cdrp, {})


# ---------------------------------------------------------------------- forget


def test_forget_erases_every_flow_of_the_session(rules: DVRules, store: TinyDBStore) -> None:
    interview(Session(rules, "bvpi225", "case-x", store), _bvpi225_answers(rules))
    s = Session(rules, "cdrp", "case-x", store)
    s.answer("councillor_dv_lead", True)
    kept = Session(rules, "cdrp", "case-y", store)
    kept.answer("councillor_dv_lead", False)
    s.forget()
    assert store.load("case-x") is None
    assert Session(rules, "bvpi225", "case-x", TinyDBStore()).answers == {}
    fresh = Session(rules, "cdrp", "case-x", TinyDBStore())
    assert fresh.answers == {}  # nothing left to prefill from either
    assert kept.answers == {"councillor_dv_lead": False}


def test_a_session_without_a_store_keeps_answers_in_memory(rules: DVRules) -> None:
    s = Session(rules, "cdrp", "case-1")
    s.answer("councillor_dv_lead", True)
    assert s.answers == {"councillor_dv_lead": True}
    s.forget()
    assert s.answers == {}


# ---------------------------------------------------------------------- same result as assess


@pytest.mark.parametrize("kind", ["best", "worst", "mixed-1", "mixed-2", "mixed-3"])
def test_session_result_equals_assess_for_the_same_answers(
    rules: DVRules, store: TinyDBStore, kind: str
) -> None:
    for flow in rules.kb.flows:
        if kind in ("best", "worst"):
            answers = extreme_answers(rules, flow, kind == "best")
        else:
            answers = mixed_answers(rules, flow, int(kind[-1]))
        s = Session(rules, flow, f"case-{flow}", store)
        asked = interview(s, answers)
        given = {q: answers.get(q) for q in asked}
        assert s.answers == given
        # through the store and back: a new object reads the same answers
        again = Session(rules, flow, f"case-{flow}", TinyDBStore())
        assert again.result().model_dump() == rules.assess(flow, given).model_dump(), flow


def test_forget_also_drops_the_answers_held_in_memory(rules: DVRules, store_dir: Path) -> None:
    s = Session(rules, "minimum-standards", "forget-mem", TinyDBStore())
    s.answer("staff_training", True)
    s.result()
    assert any(("staff_training", (bool, True)) in key for key in rules._recent)
    s.forget()
    assert not any(("staff_training", (bool, True)) in key for key in rules._recent)
