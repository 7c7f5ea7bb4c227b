"""A broken knowledge file is refused with a message naming the file and the item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dvrules import KnowledgeError, load_knowledge
from dvrules.knowledge import content_digest, default_knowledge_dir, version_problems

SOURCE = {"document": "ldvs2", "section": "Level one"}


def _question(**extra: Any) -> dict[str, Any]:
    return {"id": "q_one", "text": "Is it so?", "type": "yes_no", "source": SOURCE, **extra}


def _requirement(**extra: Any) -> dict[str, Any]:
    return {
        "id": "demo.one",
        "flow": "demo",
        "title": "One",
        "next_step": "Do it.",
        "when": {"answer": "q_one", "is": True},
        "source": SOURCE,
        **extra,
    }


def _kb(
    tmp_path: Path,
    questions: list[Any] | None = None,
    requirements: list[Any] | None = None,
    extra_file: str | None = None,
) -> Path:
    root = tmp_path / "kb"
    root.mkdir()
    (root / "sources.yaml").write_text(
        yaml.safe_dump({"documents": [{"id": "ldvs2", "title": "t", "publisher": "p"}]})
    )
    questions = questions if questions is not None else [_question()]
    (root / "demo.yaml").write_text(
        yaml.safe_dump(
            {
                "flows": [
                    {
                        "id": "demo",
                        "title": "Demo",
                        "questions": [q["id"] for q in questions],
                        "summary": {"kind": "count"},
                        "source": SOURCE,
                    }
                ],
                "questions": questions,
                "requirements": requirements if requirements is not None else [_requirement()],
            }
        )
    )
    if extra_file:
        (root / "extra.yaml").write_text(extra_file)
    return root


def test_a_valid_knowledge_base_loads(tmp_path: Path) -> None:
    kb = load_knowledge(_kb(tmp_path))
    assert list(kb.outcomes) == ["demo.one"]


def test_an_unknown_key_names_the_file_item_and_key(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_kb(tmp_path, requirements=[_requirement(treshold=3)]))
    assert "demo.yaml" in str(err.value)
    assert "demo.one" in str(err.value) and "treshold" in str(err.value)


def test_a_duplicate_id_names_both_files(tmp_path: Path) -> None:
    extra = yaml.safe_dump({"requirements": [_requirement()]})
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_kb(tmp_path, extra_file=extra))
    assert "demo.one" in str(err.value) and "duplicate" in str(err.value)
    assert "extra.yaml" in str(err.value) and "demo.yaml" in str(err.value)


def test_a_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="extra.yaml.*duplicate key 'title'"):
        load_knowledge(
            _kb(
                tmp_path,
                extra_file="definitions:\n- id: defn.a\n  title: A\n"
                "  title: B\n  text: x\n  source: {document: ldvs2, section: s}\n",
            )
        )


def test_a_dangling_reference_names_the_item(tmp_path: Path) -> None:
    req = _requirement(when={"all": [{"answer": "q_one", "is": True}, {"item": "demo.missing"}]})
    with pytest.raises(
        KnowledgeError, match=r"demo.yaml: demo.one: refers to unknown item 'demo.missing'"
    ):
        load_knowledge(_kb(tmp_path, requirements=[req]))


def test_a_missing_source_names_the_item(tmp_path: Path) -> None:
    req = _requirement()
    del req["source"]
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_kb(tmp_path, requirements=[req]))
    assert "demo.one" in str(err.value) and "source" in str(err.value)


def test_a_source_document_not_in_sources_yaml_is_refused(tmp_path: Path) -> None:
    req = _requirement(source={"document": "nowhere", "section": "x"})
    with pytest.raises(KnowledgeError, match="demo.one: source document 'nowhere'"):
        load_knowledge(_kb(tmp_path, requirements=[req]))


def test_a_test_that_does_not_fit_its_question_is_refused(tmp_path: Path) -> None:
    req = _requirement(when={"answer": "q_one", "at_least": 3})
    with pytest.raises(KnowledgeError, match="demo.one: test on 'q_one' \\(yes_no\\)"):
        load_knowledge(_kb(tmp_path, requirements=[req]))


def test_a_question_in_no_flow_is_refused(tmp_path: Path) -> None:
    extra = yaml.safe_dump({"questions": [_question(id="q_orphan")]})
    with pytest.raises(KnowledgeError, match="q_orphan: question is in no flow"):
        load_knowledge(_kb(tmp_path, extra_file=extra))


def test_a_cycle_of_item_references_is_refused(tmp_path: Path) -> None:
    reqs = [
        _requirement(id="demo.a", when={"item": "demo.b"}),
        _requirement(id="demo.b", when={"item": "demo.a"}),
    ]
    with pytest.raises(KnowledgeError, match="cycle"):
        load_knowledge(_kb(tmp_path, requirements=reqs))


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match="extra.yaml: not valid YAML"):
        load_knowledge(_kb(tmp_path, extra_file="questions: [unclosed"))


def _with_directory(tmp_path: Path, directory: dict[str, Any]) -> Path:
    root = _kb(tmp_path)
    (root / "directories").mkdir()
    (root / "directories" / "testarea.yaml").write_text(yaml.safe_dump(directory))
    return root


def _directory(**service: Any) -> dict[str, Any]:
    return {
        "area": "testarea",
        "name": "Test area",
        "source": SOURCE,
        "services": [
            {
                "id": "local.advocacy",
                "name": "Advocacy service",
                "does": "Advocacy",
                "serves": "Survivors",
                "services": ["idva"],
                "source": SOURCE,
                **service,
            }
        ],
    }


def test_a_directory_entry_with_an_unknown_key_names_the_file_and_entry(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_with_directory(tmp_path, _directory(phone_number="x")))
    assert "testarea.yaml" in str(err.value) and "local.advocacy" in str(err.value)


def test_a_directory_service_kind_no_pathway_uses_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"testarea.yaml: .*local.advocacy: kind 'idva'"):
        load_knowledge(_with_directory(tmp_path, _directory()))


def test_an_unknown_area_is_refused_with_the_known_areas(tmp_path: Path) -> None:
    kb = load_knowledge(_kb(tmp_path))
    with pytest.raises(KnowledgeError, match="no local directory for area 'nowhere'"):
        kb.params("nowhere")


def _with_fact_sheet(tmp_path: Path, source: dict[str, Any]) -> Path:
    root = _kb(tmp_path, requirements=[_requirement(source=source)])
    (root / "sources.yaml").write_text(
        yaml.safe_dump(
            {
                "documents": [
                    {"id": "ldvs2", "title": "t", "publisher": "p"},
                    {
                        "id": "sheet",
                        "title": "t",
                        "publisher": "p",
                        "kind": "fact_sheet",
                        "notes_file": "sheet.md",
                    },
                ]
            }
        )
    )
    return root


def test_a_fact_sheet_fact_without_its_page_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError, match=r"demo.one: a fact from sheet cites the page .*url"):
        load_knowledge(
            _with_fact_sheet(
                tmp_path, {"document": "sheet", "section": "1. Law", "last_reviewed": "2026-12-01"}
            )
        )


def test_a_fact_sheet_fact_with_its_page_and_dates_loads(tmp_path: Path) -> None:
    kb = load_knowledge(
        _with_fact_sheet(
            tmp_path,
            {
                "document": "sheet",
                "section": "1. Law",
                "url": "https://example.org/page",
                "date": "n.d.",
                "last_reviewed": "2026-12-01",
            },
        )
    )
    assert kb.outcomes["demo.one"].source.url == "https://example.org/page"
    assert "https://example.org/page (n.d.)" in kb.outcomes["demo.one"].source.cite()


@pytest.mark.parametrize(
    ("field", "value"),
    [("last_reviewed", "1 Dec 2026"), ("date", "sometime"), ("url", "not a url")],
)
def test_a_citation_with_a_malformed_date_or_address_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    src = {
        "document": "sheet",
        "section": "1. Law",
        "url": "https://example.org/page",
        "date": "2024-11",
        "last_reviewed": "2026-12-01",
        field: value,
    }
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_with_fact_sheet(tmp_path, src))
    assert "demo.one" in str(err.value) and field in str(err.value)


def test_a_retired_answer_must_name_real_replacements(tmp_path: Path) -> None:
    extra = yaml.safe_dump(
        {
            "retired": [
                {
                    "id": "q_old",
                    "flow": "demo",
                    "replaced_by": ["q_new"],
                    "note": "split in two",
                    "source": SOURCE,
                }
            ]
        }
    )
    with pytest.raises(
        KnowledgeError, match="q_old: replacement 'q_new' is not a question of flow demo"
    ):
        load_knowledge(_kb(tmp_path, extra_file=extra))


# ---------------------------------------------------------------------- the shipped knowledge


def _cli(*args: str) -> Any:
    from typer.testing import CliRunner

    import dvrules.cli as cli

    return CliRunner().invoke(cli.app, list(args))


def test_an_answers_file_still_using_fgm_is_refused_in_one_line_naming_both_replacements(
    tmp_path: Path,
) -> None:
    path = tmp_path / "answers.json"
    path.write_text('{"immediate_danger": false, "fgm": true}', encoding="utf-8")
    res = _cli("assess", "referral", "--answers", str(path))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "fgm_at_risk" in lines[0] and "fgm_known_under_18" in lines[0]
    assert res.stdout == ""


def test_kb_stats_lists_every_contact_and_outside_fact_with_its_review_date() -> None:
    import json

    res = _cli("kb", "stats", "--format", "json", "--today", "2026-12-01")
    assert res.exit_code == 0, res.stderr
    rows = {r["id"]: r for r in json.loads(res.stdout)["reviewed"]}
    helpline = rows["contact.national_domestic_abuse_helpline"]
    assert helpline["last_reviewed"] == "2026-12-01" and not helpline["stale"]
    assert rows["pathway.adult_safeguarding"]["url"].startswith("http")
    assert rows["contact.the_havens"]["stale"]  # never reviewed: flagged
    later = json.loads(_cli("kb", "stats", "--format", "json", "--today", "2027-12-02").stdout)
    assert "contact.national_domestic_abuse_helpline" in later["not_reviewed_in_12_months"]
    assert "pathway.adult_safeguarding" in later["not_reviewed_in_12_months"]
    text = _cli("kb", "stats", "--today", "2027-12-02").stdout
    assert "contact.national_domestic_abuse_helpline" in text and "OLDER THAN 12 MONTHS" in text


def test_kb_stats_refuses_a_malformed_date_in_one_line() -> None:
    res = _cli("kb", "stats", "--today", "yesterday")
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.stderr


# ---------------------------------------------------------------------- one version, kept current


def test_a_version_outside_the_manifest_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_kb(tmp_path, extra_file='version: "9.9.9"\n'))
    assert "extra.yaml" in str(err.value) and "manifest.yaml" in str(err.value)


def test_the_version_comes_from_the_manifest(tmp_path: Path) -> None:
    root = _kb(tmp_path)
    (root / "manifest.yaml").write_text(
        f'version: "1.2.3"\ncontent_sha256: {content_digest(root)}\n'
    )
    assert load_knowledge(root).version == "1.2.3"
    assert version_problems(root) == [
        "CHANGELOG.md: no entry '## 1.2.3' for the version in manifest.yaml"
    ]


def test_a_knowledge_change_without_a_new_version_is_caught_with_the_digest_to_set(
    tmp_path: Path,
) -> None:
    root = _kb(tmp_path)
    (root / "manifest.yaml").write_text(
        f'version: "1.2.3"\ncontent_sha256: {content_digest(root)}\n'
    )
    (root / "CHANGELOG.md").write_text("## 1.2.3\n- first\n")
    assert version_problems(root) == []
    (root / "demo.yaml").write_text(
        (root / "demo.yaml").read_text().replace("Do it.", "Do it now.")
    )
    [problem] = version_problems(root)
    assert "changed since version 1.2.3" in problem and content_digest(root) in problem


def test_the_shipped_knowledge_has_a_current_version_and_changelog_entry() -> None:
    assert version_problems(default_knowledge_dir()) == []


def test_a_prefill_naming_a_figure_the_flow_does_not_have_is_refused(tmp_path: Path) -> None:
    """``prefill: bvpi225.scroe`` would silently never fill in: it names the file and the typo."""
    q = _question(id="q_score", type="number", prefill="demo.scroe")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(_kb(tmp_path, questions=[_question(), q]))
    assert "demo.yaml: q_score: prefill 'demo.scroe'" in str(err.value)
    assert "'scroe' is not in the summary of flow demo (its summary has: met, total)" in str(
        err.value
    )


def test_a_prefill_naming_an_unknown_flow_is_refused(tmp_path: Path) -> None:
    q = _question(id="q_score", type="number", prefill="bvpi226.score")
    with pytest.raises(KnowledgeError, match="q_score: prefill 'bvpi226.score': 'bvpi226' is not"):
        load_knowledge(_kb(tmp_path, questions=[_question(), q]))


def test_a_prefill_naming_a_real_figure_loads(tmp_path: Path) -> None:
    q = _question(id="q_score", type="number", prefill="demo.met")
    kb = load_knowledge(_kb(tmp_path, questions=[_question(), q]))
    assert kb.questions["q_score"].prefill == "demo.met"


@pytest.mark.parametrize(
    ("question", "requirement", "message"),
    [
        ({"definition": "defn.nowhere"}, {}, "q_one: definition 'defn.nowhere' is not defined"),
        (
            {"type": "choice", "choices_from": "list.nowhere"},
            {"when": {"answer": "q_one", "in": []}},
            "q_one: choices_from 'list.nowhere' is not a list",
        ),
        ({}, {"definitions": ["defn.nowhere"]}, "demo.one: definition 'defn.nowhere' is not"),
        (
            {"type": "number"},
            {"when": {"answer": "q_one", "at_least": {"param": "nowhere.calls"}}},
            "demo.one: parameter 'nowhere.calls' is not defined",
        ),
        ({}, {"when": {"answer": "q_two", "is": True}}, "demo.one: tests 'q_two', which is not"),
        ({}, {"when": {"value": "nowhere_rate", "at_least": 1}}, "value 'nowhere_rate'"),
    ],
)
def test_every_reference_string_is_checked_when_loading(
    tmp_path: Path, question: dict[str, Any], requirement: dict[str, Any], message: str
) -> None:
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(
            _kb(
                tmp_path,
                questions=[_question(**question)],
                requirements=[_requirement(**requirement)],
            )
        )
    assert message in str(err.value) and "demo.yaml" in str(err.value)


def test_summary_keys_a_prefill_may_name_are_those_results_give() -> None:
    """The list the loader checks ``prefill`` against is what each summary kind really holds."""
    from dvrules import default_rules
    from dvrules.schema import SUMMARY_KEYS

    rules = default_rules()
    for flow in rules.kb.flows.values():
        if flow.summary.kind != "referral":
            summary = rules.assess(flow.id, {}).summary
            assert set(summary) == set(SUMMARY_KEYS[flow.summary.kind]), flow.id
