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
    result = rules.assess("provision", {"population": 250000, "idva_fte": 9.9,
                                        "adult_women": 100000, "marac_cases_per_year": 399,
                                        "marac_coordinator_fte": 0})
    assert _row(result, "provision.idva_per_100k").because == [
        "IDVA posts per 100,000 population: 3.96 (needs at least 4)",
        "IDVA posts missing against 4 per 100,000 population: 0.1 (needs at most 0)"]
    assert _row(result, "provision.marac_volume").because == [
        "MARAC cases a year per 10,000 adult women: 39.9 (needs at least 40)",
        "MARAC cases a year missing against 40 per 10,000 adult women: 1 (needs at most 0)"]
    assert _row(result, "provision.referrals_per_idva").because == [
        "MARAC cases a year per full-time IDVA: 40.3 (needs at most 100)",
        "IDVA posts missing against about 100 cases a year per full-time IDVA: 0 "
        "(needs at most 0)"]
    assert _row(result, "provision.marac_admin").because[-1] == (
        "MARAC administrator posts missing against one per 400 cases a year: 0.998 "
        "(needs at most 0)")


def test_provision_yardsticks_say_they_are_guidance_and_name_their_date(rules: DVRules) -> None:
    kb = rules.kb
    for rid in ("provision.idva_per_100k", "provision.marac_volume",
                "provision.referrals_per_idva", "provision.marac_admin"):
        r = kb.outcomes[rid]
        assert "guidance" in r.title.lower() and "not a statutory standard" in (r.help or "")
        assert "defn.provision.guidance_not_statute" in r.definitions
        assert r.source.document == "domain_notes" and r.source.date
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
        seed = _numbers((SEEDS / kb.documents[d.source.document].seed_file)
                        .read_text(encoding="utf-8"))
        for amount in re.findall(r"\d[\d,]*(?:\.\d+)?", _numbers(d.text)):
            assert amount in seed, f"{d.id}: {amount} is not in {d.source.document}"


def test_no_contact_details_from_the_commissioning_brief_are_encoded() -> None:
    text = "\n".join(p.read_text(encoding="utf-8")
                     for p in sorted((ROOT / "knowledge").glob("*.yaml")))
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), "an e-mail address in knowledge"
    assert not re.search(r"\b0\d{2,4}[ -]?\d{3,4}[ -]?\d{3,4}\b", text), "a phone number"
