"""dvrules embedded in someone else's app (issue 13, point 1): the README's example, stores,
one error base, a typed package and engines shared between ``DVRules`` instances."""

from __future__ import annotations

import gc
import importlib.resources
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import dvrules
from dvrules import (
    AnswerError,
    DVRules,
    DVRulesError,
    EngineError,
    KnowledgeError,
    MemoryStore,
    Session,
    StoreError,
    TinyDBStore,
    UnknownFlowError,
    UnknownItemError,
    open_store,
)
from dvrules.chat import Conversation

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(r"## The Python API\n\n```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]


def test_the_readme_example_runs_twice_in_a_row_and_writes_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVRULES_")}
    # the warm-start cache of loaded knowledge goes where XDG_CACHE_HOME says, not HOME
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(tmp_path))
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", readme_example()],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().startswith("advocates_fte: enter a number")
    assert list(home.rglob("*")) == [], "the example wrote to the user's data folder"


# ---------------------------------------------------------------------- one error base


@pytest.mark.parametrize(
    "cls, builtin",
    [
        (AnswerError, ValueError),
        (KnowledgeError, ValueError),
        (UnknownFlowError, KeyError),
        (UnknownItemError, KeyError),
        (StoreError, RuntimeError),
        (EngineError, RuntimeError),
        (dvrules.SessionError, ValueError),
    ],
)
def test_every_error_is_a_dvrules_error_and_keeps_its_old_base(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(cls, DVRulesError) and issubclass(cls, builtin)


def test_the_errors_are_importable_where_they_always_were() -> None:
    from dvrules.answers import AnswerError as answers_error
    from dvrules.engine import EngineError as engine_error
    from dvrules.knowledge import KnowledgeError as knowledge_error
    from dvrules.store import StoreError as store_error

    assert (answers_error, engine_error, knowledge_error, store_error) == (
        AnswerError,
        EngineError,
        KnowledgeError,
        StoreError,
    )


def test_an_unknown_flow_or_item_is_a_named_error_of_one_line(rules: DVRules) -> None:
    with pytest.raises(UnknownFlowError) as flow:
        rules.assess("cdrpp", {})
    assert str(flow.value).startswith("unknown flow 'cdrpp'; known flows: ") and "cdrp" in str(
        flow.value
    )
    with pytest.raises(UnknownFlowError):
        Session(rules, "cdrpp", "case-1", MemoryStore())
    with pytest.raises(UnknownItemError, match="^cdrp.nothing: no such item in flow cdrp$"):
        rules.explain("cdrp", {}, "cdrp.nothing")
    with pytest.raises(DVRulesError):
        rules.assess("cdrp", {"advocates_fte": 10**309})


# ---------------------------------------------------------------------- stores


def test_a_memory_store_keeps_sessions_in_the_process_only(
    rules: DVRules, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_DB", str(tmp_path / "never"))
    store = MemoryStore()
    s = Session(rules, "cdrp", "case-1", store)
    s.answer("advocacy_service_independent", True)
    again = Session(rules, "cdrp", "case-1", store)
    assert again.answers == {"advocacy_service_independent": True}
    loaded = store.load("case-1")
    assert loaded is not None
    loaded["flows"].clear()  # a caller's copy: the store is not changed through it
    assert Session(rules, "cdrp", "case-1", store).answers == {"advocacy_service_independent": True}
    assert store.count() == 1
    again.forget()
    assert store.load("case-1") is None and store.count() == 0
    assert Session(rules, "cdrp", "case-2", MemoryStore()).answers == {}
    assert not (tmp_path / "never").exists()


def test_a_memory_store_expires_sessions_like_the_file_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryStore(ttl_seconds=60)
    store.save("case-1", {"flows": {}})
    store.save("case-2", {"flows": {}})
    import dvrules.store as store_module

    later = store_module.time.time() + 120
    monkeypatch.setattr(store_module.time, "time", lambda: later)
    assert store.load("case-1") is None
    assert store.purge_expired() == 1 and store.count() == 0
    with pytest.raises(StoreError, match="ttl_seconds"):
        MemoryStore(ttl_seconds=0)


def test_a_chat_runs_on_a_memory_store(rules: DVRules) -> None:
    conversation = Conversation(rules, MemoryStore())
    reply = conversation.press("chat-1", "f|cdrp")
    assert reply.messages and any(m.kind == "card" for m in reply.messages)


def test_open_store_reads_what_it_is_given_or_DVRULES_STORE(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DVRULES_DB", str(tmp_path / "default"))
    monkeypatch.delenv("DVRULES_STORE", raising=False)
    default = open_store()
    assert isinstance(default, TinyDBStore) and default.directory == tmp_path / "default"
    at = open_store(tmp_path / "here")
    assert isinstance(at, TinyDBStore) and at.directory == tmp_path / "here"
    assert open_store(f"file://{tmp_path / 'there'}").directory == tmp_path / "there"  # type: ignore[attr-defined]
    assert isinstance(open_store("memory://"), MemoryStore)
    monkeypatch.setenv("DVRULES_STORE", "memory://")
    assert isinstance(open_store(), MemoryStore)
    monkeypatch.setenv("DVRULES_STORE", str(tmp_path / "from-env"))
    assert open_store().directory == tmp_path / "from-env"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url, says",
    [
        (
            "redis://user:secret@127.0.0.1:1/0",
            "redis://127.0.0.1:1/0: the server cannot be reached",
        ),
        ("s3://bucket/x", "s3:// is not a kind of store dvrules knows"),
    ],
)
def test_a_store_url_dvrules_cannot_open_is_one_line_without_its_password(
    url: str, says: str
) -> None:
    with pytest.raises(StoreError, match=says) as caught:
        open_store(url)
    assert "secret" not in str(caught.value) and "\n" not in str(caught.value)


def test_the_package_is_typed() -> None:
    assert importlib.resources.files("dvrules").joinpath("py.typed").is_file()


# ---------------------------------------------------------------------- shared engines


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_many_dvrules_instances_share_one_engine_and_do_not_grow_memory(rules: DVRules) -> None:
    """Each engine holds about 15 MB of durable_rules' C memory that is never freed: 20
    instances used to add some 300 MB."""
    DVRules(rules.kb).assess("cdrp", {})
    gc.collect()
    before = _rss_mb()
    made = [DVRules(rules.kb) for _ in range(20)]
    for r in made:
        assert r.engine is rules.engine
        assert (
            r.assess("cdrp", {"advocacy_service_independent": True}).model_dump()
            == rules.assess("cdrp", {"advocacy_service_independent": True}).model_dump()
        )
    del made
    gc.collect()
    assert _rss_mb() - before < 40


def test_different_parameters_or_knowledge_get_their_own_engine(rules: DVRules) -> None:
    from dvrules.engine import shared_engine

    assert shared_engine(rules.kb, rules.params) is rules.engine
    name, value = next(iter(rules.params.items()))
    assert shared_engine(rules.kb, {**rules.params, name: value + 1}) is not rules.engine
    other = dvrules.load_knowledge()
    assert DVRules(other).engine is rules.engine  # the same knowledge, loaded again
