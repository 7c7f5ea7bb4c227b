"""The warm-start cache of loaded knowledge: used when the files are unchanged, never when one
changed, and a damaged cache file is ignored and rebuilt rather than trusted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dvrules import DVRules, KnowledgeError
from dvrules.kb_cache import load_cached
from dvrules.knowledge import KnowledgeBase, default_knowledge_dir, load_knowledge


@pytest.fixture
def knowledge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped knowledge, and a cache folder of its own."""
    monkeypatch.setenv("DVRULES_KB_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), root)
    return root


def _refuse(root: Path) -> KnowledgeBase:
    raise AssertionError("the YAML was read although a sound cached copy exists")


def _cache_files(root: Path) -> list[Path]:
    return sorted((root.parent / "cache").glob("kb-*.pickle"))


def test_a_warm_start_reads_no_yaml_and_gives_the_same_results(knowledge: Path) -> None:
    cold = load_knowledge(knowledge)
    warm = load_cached(knowledge, _refuse)
    assert warm.questions == cold.questions
    assert warm.outcomes == cold.outcomes
    answers = {"advocacy_service_independent": True, "advocates_fte": 3}
    assert (
        DVRules(warm).assess("cdrp", answers).model_dump()
        == DVRules(cold).assess("cdrp", answers).model_dump()
    )


def test_a_changed_knowledge_file_is_loaded_again(knowledge: Path) -> None:
    before = load_knowledge(knowledge)
    path = knowledge / "cdrp.yaml"
    text = path.read_text(encoding="utf-8")
    old = before.questions["advocates_fte"].text
    path.write_text(text.replace(old, "How many advocates, full time?", 1), encoding="utf-8")
    after = load_knowledge(knowledge)
    assert after.questions["advocates_fte"].text == "How many advocates, full time?"


@pytest.mark.parametrize("what", ["file", "folder"])
def test_a_cache_others_can_write_is_never_unpickled(knowledge: Path, what: str) -> None:
    """Unpickling runs code: a cache file or folder the group or others can write is ignored."""
    load_knowledge(knowledge)
    [cached] = _cache_files(knowledge)
    target = cached if what == "file" else cached.parent
    target.chmod(target.stat().st_mode | 0o022)
    with pytest.raises(AssertionError, match="the YAML was read"):
        load_cached(knowledge, _refuse)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"",
        lambda data: data[: len(data) // 2],  # a write cut short
        lambda data: data[:-10] + b"0123456789",  # flipped bytes
        lambda data: b"not a cache file at all",
    ],
)
def test_a_damaged_cache_file_is_ignored_and_rebuilt(knowledge: Path, damage: object) -> None:
    expected = load_knowledge(knowledge)
    [cached] = _cache_files(knowledge)
    cached.write_bytes(damage(cached.read_bytes()))  # type: ignore[operator]
    again = load_knowledge(knowledge)
    assert again.questions == expected.questions
    load_cached(knowledge, _refuse)  # rewritten sound: the next start reads no YAML


def test_an_unwritable_cache_folder_only_costs_the_cache(
    knowledge: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = knowledge.parent / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DVRULES_KB_CACHE", str(blocker / "cache"))  # cannot be a folder
    assert load_knowledge(knowledge).questions


def test_the_cache_can_be_turned_off(knowledge: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVRULES_KB_CACHE", "off")
    load_knowledge(knowledge)
    assert not (knowledge.parent / "cache").exists()


def test_a_knowledge_error_is_never_cached(knowledge: Path) -> None:
    path = knowledge / "cdrp.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nnonsense: [\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(KnowledgeError, match="cdrp.yaml"):
            load_knowledge(knowledge)
    assert _cache_files(knowledge) == []
