"""Knowledge health: the whole knowledge base is cited, consistent, complete and paraphrased."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from dvrules import DVRules
from dvrules.conditions import leaves
from dvrules.knowledge import SOURCE_SECTIONS, KnowledgeBase
from dvrules.schema import ItemRef, Pathway
from dvrules.schema import Test as LeafTest

from .conftest import ROOT, SEEDS

NOTES = SEEDS.parent / "notes"
# A UK phone number as written in text: 0 and at least seven more digits in groups, or 116 123.
LONG_NUMBER = re.compile(r"(?<![\w/=.])(0\d{2,4}(?: ?\d){4,8}|116 ?123)(?!\w)")


def _norm(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'")
    text = re.sub(r"[^a-z0-9]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def sections() -> dict[str, Any]:
    """What citations are checked against, kept in the repository (no ../shared needed)."""
    return yaml.safe_load(
        (ROOT / "knowledge" / "sources" / SOURCE_SECTIONS).read_text(encoding="utf-8")
    )


@pytest.fixture(scope="module")
def seed_headings(rules: DVRules, sections: dict[str, Any]) -> dict[str, list[str]]:
    seeds = sections["seeds"]
    assert {d.id for d in rules.kb.documents.values() if d.seed_file} == set(seeds)
    return {doc: [_norm(h) for h in s["headings"]] for doc, s in seeds.items()}


def test_the_source_sections_file_is_what_the_documents_give() -> None:
    """knowledge/source_sections.yaml is regenerated from ../shared and compared."""
    if not SEEDS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SEEDS} is missing; CI must run with shared/ beside the repository")
        pytest.skip("source documents (shared/seeds) are not beside this checkout")
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "source_sections.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.fixture(scope="module")
def seed_texts(rules: DVRules) -> dict[str, str]:
    """The documents' whole text, for the paraphrase check (needs ../shared)."""
    if not SEEDS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SEEDS} is missing; CI must run with shared/ beside the repository")
        pytest.skip("source documents (shared/seeds) are not beside this checkout")
    return {
        d.id: _norm((SEEDS / d.seed_file).read_text(encoding="utf-8"))
        for d in rules.kb.documents.values()
        if d.seed_file
    }


def _all_sources(kb: KnowledgeBase):
    yield from kb.citations()


def test_every_cited_section_is_a_heading_found_in_its_document(
    rules: DVRules, seed_headings: dict[str, list[str]]
) -> None:
    missing = [
        f"{item}: {src.document} / {src.section!r}"
        for item, src in _all_sources(rules.kb)
        if src.document in seed_headings
        and not any(_norm(src.section) in h for h in seed_headings[src.document])
    ]
    assert not missing, "sections not found in the cited document:\n" + "\n".join(missing)


def test_every_cited_footnote_exists_in_its_document(
    rules: DVRules, sections: dict[str, Any]
) -> None:
    footnotes = {doc: set(s["footnotes"]) for doc, s in sections["seeds"].items()}
    cited = [(item, src) for item, src in _all_sources(rules.kb) if src.footnote is not None]
    assert cited, "the knowledge cites footnotes"
    missing = [
        f"{item}: {src.document} footnote {src.footnote}"
        for item, src in cited
        if src.footnote not in footnotes.get(src.document, set())
    ]
    assert not missing, "\n".join(missing)


def test_every_cited_document_is_listed(rules: DVRules) -> None:
    unknown = [
        f"{item}: {src.document}"
        for item, src in _all_sources(rules.kb)
        if src.document not in rules.kb.documents
    ]
    assert not unknown


def test_every_question_is_used_by_an_outcome_a_value_or_another_question(rules: DVRules) -> None:
    kb = rules.kb
    used: set[str] = set()
    for o in kb.outcomes.values():
        for leaf in leaves(o.when):
            if isinstance(leaf, LeafTest):
                used.update(kb.value_inputs(leaf.subject))
        if isinstance(o, Pathway):
            for rule in o.urgency_rules:
                used.update(
                    q
                    for leaf in leaves(rule.when)
                    if isinstance(leaf, LeafTest)
                    for q in kb.value_inputs(leaf.subject)
                )
    for q in kb.questions.values():  # a gate that decides whether another question is asked
        if q.ask_when is not None:
            used.update(
                i
                for leaf in leaves(q.ask_when)
                if isinstance(leaf, LeafTest)
                for i in kb.value_inputs(leaf.subject)
            )
    unused = sorted(set(kb.questions) - used)
    assert not unused, f"questions that no outcome depends on: {unused}"


def test_every_rule_input_is_asked_in_its_flow(rules: DVRules) -> None:
    kb = rules.kb
    for o in kb.outcomes.values():
        for leaf in leaves(o.when):
            inputs = kb.inputs_of(leaf)
            assert set(inputs) <= set(kb.flow(o.flow).questions), (o.id, inputs)


def test_every_outcome_reference_stays_within_its_flow(rules: DVRules) -> None:
    for o in rules.kb.outcomes.values():
        for leaf in leaves(o.when):
            if isinstance(leaf, ItemRef):
                assert rules.kb.outcomes[leaf.item].flow == o.flow


def test_the_core_counts_match_the_source_documents(rules: DVRules) -> None:
    stats = rules.kb.stats()
    assert stats["minimum-standards"]["requirements"] == 9
    assert stats["cdrp"]["by_level"] == {1: 12, 2: 21, 3: 17}
    assert stats["bvpi225"]["requirements"] == 11
    assert stats["bvpi225"]["monitoring"] == 4
    assert stats["lists"]["cdrp.strategic_plans"] == 18


def test_public_answer_ids_are_kept(rules: DVRules) -> None:
    ms = [
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
    assert rules.kb.flow("minimum-standards").questions == ms
    bvpi = [
        "directory_of_services",
        "refuge_places",
        "population",
        "dv_coordinator_funded",
        "multi_agency_strategy",
        "forum_meetings_per_year",
        "info_sharing_protocol_agreed",
        "sanctuary_scheme",
        "repeat_homelessness_reduced",
        "tenancy_dv_eviction_clause",
        "education_pack",
        "training_groups",
        "district_council",
        "households",
        "senior_officer_designated",
        "sanctuary_with_neighbouring_authority",
    ]
    assert set(bvpi) <= set(rules.kb.flow("bvpi225").questions)
    mains = [q for q in rules.kb.flow("bvpi225").questions if q in bvpi[:12]]
    assert mains == bvpi[:12], "BVPI 225 questions one to eleven are asked in order"
    cdrp = [
        "advocacy_service_independent",
        "advocates_fte",
        "bvpi225_score",
        "arrest_rate_percent",
        "plans_integrating_dv",
        "contact_centre",
        "sdvc",
        "dv_coordinator",
        "snapshot_surgeries",
        "snapshot_ae",
        "perpetrator_referral_routes_respect",
    ]
    assert set(cdrp) <= set(rules.kb.flow("cdrp").questions)


def _knowledge_text(root: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.yaml")))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.fixture(scope="module")
def fact_sheets(rules: DVRules, sections: dict[str, Any]) -> dict[str, Any]:
    """The headings, page addresses and table phone numbers of every fact sheet the knowledge
    cites (shared/notes/current-practice.md), as kept in the repository."""
    sheets = sections["fact_sheets"]
    assert {d.id for d in rules.kb.documents.values() if d.kind == "fact_sheet"} == set(sheets)
    return dict(sheets)


@pytest.fixture(scope="module")
def table_numbers(fact_sheets: dict[str, Any]) -> set[str]:
    """Every phone number (as digits) in the tables of the fact sheets: the only ones allowed."""
    return {n for sheet in fact_sheets.values() for n in sheet["table_phone_numbers"]}


def test_no_phone_number_in_knowledge_is_missing_from_the_fact_sheet_tables(
    table_numbers: set[str],
) -> None:
    assert {"08082000247", "999", "101"} <= table_numbers  # the tables were read
    found: dict[str, str] = {}
    for path in sorted((ROOT / "knowledge").rglob("*.yaml")):
        for m in LONG_NUMBER.findall(path.read_text(encoding="utf-8")):
            found.setdefault(_digits(m), path.name)
    missing = {n: f for n, f in found.items() if n not in table_numbers}
    assert not missing, f"phone numbers not in the fact sheet's tables: {missing}"


def test_every_contact_phone_is_one_the_fact_sheet_tables_give(
    rules: DVRules, table_numbers: set[str]
) -> None:
    for c in rules.kb.contacts.values():
        if c.phone:
            assert _digits(c.phone) in table_numbers, c.id
            assert c.last_reviewed, f"{c.id}: a contact with a number needs last_reviewed"
    for d in rules.kb.directories.values():
        for s in d.services:
            if s.contact and s.contact.phone:
                pytest.fail(
                    f"{s.id}: local phone numbers are only kept when a document gives "
                    "them; none of the seed documents' numbers are shipped"
                )


def test_every_outside_fact_cites_its_url(rules: DVRules, fact_sheets: dict[str, Any]) -> None:
    """A fact from the fact sheet names a page the sheet gives for it, with the dates; any other
    outside source has a web address of its own, or says why it has none."""
    kb = rules.kb
    problems = []
    for item, src in kb.citations():
        doc = kb.documents[src.document]
        if doc.kind == "fact_sheet":
            sheet = fact_sheets[doc.id]
            if not src.url or src.url not in sheet["urls"]:
                problems.append(f"{item}: url {src.url!r} is not one the fact sheet gives")
            if not src.last_reviewed or not src.date:
                problems.append(f"{item}: needs date and last_reviewed")
            if not any(_norm(src.section) in _norm(h) for h in sheet["headings"]):
                problems.append(f"{item}: section {src.section!r} is not in the fact sheet")
        elif doc.kind == "outside" and not (src.url or doc.url or doc.note):
            problems.append(f"{item}: outside source {doc.id} without a url or a note why")
    assert not problems, "\n".join(problems)


def test_every_cited_document_lives_in_the_repository(rules: DVRules) -> None:
    """No citation points at a notes file outside the repository: an outside fact cites an
    entry of sources.yaml that keeps the facts taken from it, and says what the notes do not
    give (a page address, or any public source at all)."""
    kb = rules.kb
    cited = {src.document for _, src in kb.citations()}
    for doc in (kb.documents[d] for d in sorted(cited)):
        if doc.kind in ("outside", "project_notes") and doc.id not in ("safelives", "nice_qs116"):
            assert doc.facts, f"{doc.id}: the facts taken from it are kept in sources.yaml"
        if doc.kind == "project_notes":
            assert doc.note, f"{doc.id}: says why there is no public source or address"
        if doc.kind == "outside" and doc.url is None:
            assert doc.note, f"{doc.id}: says why no address is given"
    assert "domain_notes" not in kb.documents


def test_facts_the_sheet_marks_not_found_are_not_filled_in(rules: DVRules) -> None:
    """The Rape Crisis line number and a pre-birth week rule were not found: none is given."""
    kb = rules.kb
    assert kb.contacts["contact.rape_crisis_support_line"].phone is None
    assert "NOT FOUND" in kb.contacts["contact.rape_crisis_support_line"].serves
    assert "NOT FOUND" in (kb.outcomes["pathway.pre_birth_referral"].help or "")
    assert "CONFLICT" in (kb.outcomes["pathway.fgm_mandatory_report"].help or "")


def test_the_fgm_answer_is_retired_in_favour_of_its_two_replacements(rules: DVRules) -> None:
    retired = rules.kb.retired["fgm"]
    assert retired.replaced_by == ["fgm_at_risk", "fgm_known_under_18"]
    assert "fgm" not in rules.kb.questions


def test_knowledge_paraphrases_rather_than_copies_the_documents(
    rules: DVRules, seed_texts: dict[str, str]
) -> None:
    """No run of 14 words is copied from a source document (names and lists excepted)."""
    corpus = " ".join(seed_texts.values())
    shingles = set()
    words = corpus.split()
    for i in range(len(words) - 13):
        shingles.add(" ".join(words[i : i + 14]))
    texts = []
    kb = rules.kb
    for q in kb.questions.values():
        texts += [(q.id, q.text), (q.id, q.help or "")]
    for o in kb.outcomes.values():
        texts += [(o.id, o.title), (o.id, getattr(o, "next_step", "") or ""), (o.id, o.help or "")]
    for d in kb.definitions.values():
        texts.append((d.id, d.text))
    copied = []
    for item, text in texts:
        w = _norm(text).split()
        for i in range(len(w) - 13):
            if " ".join(w[i : i + 14]) in shingles:
                copied.append(f"{item}: {' '.join(w[i : i + 14])}")
                break
    assert not copied, "text copied from a source document:\n" + "\n".join(copied)


def test_every_requirement_says_what_to_do_next(rules: DVRules) -> None:
    for r in (
        o for o in rules.kb.outcomes.values() if rules.kb.outcome_kind[o.id] == "requirements"
    ):
        assert len(r.next_step.split()) >= 3, r.id


def test_referrals_to_local_services_say_how_to_find_one_where_no_directory_names_it(
    rules: DVRules,
) -> None:
    """The specialist domestic abuse service, MARAC and IDVA (issue 8 point 5), and the other
    local-only routes, tell the worker how to find the local service."""
    for pid in (
        "local_specialist_da_service",
        "marac",
        "idva",
        "adult_safeguarding",
        "sarc",
        "nrm",
    ):
        p = rules.kb.outcomes[f"pathway.{pid}"]
        assert isinstance(p, Pathway) and p.find_local, pid
    kinds = {k for d in rules.kb.directories.values() for s in d.services for k in s.services}
    for pid in ("local_specialist_da_service", "marac", "idva"):
        assert set(rules.kb.outcomes[f"pathway.{pid}"].services) & kinds, pid
