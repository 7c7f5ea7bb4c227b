"""Fixtures for the bot tests: fake platform servers, configurations, running bots.

The bots under test are the real ones (python-telegram-bot's Application polling, Bolt's App
behind its WSGI adapter on a real HTTP server), talking to fakes on 127.0.0.1 ports chosen by
the operating system. Nothing of dvrules is mocked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from bot_fakes import ALLOWED_TEAM, FakeSlack, FakeTelegram
from bot_runners import SlackRunner, TelegramRunner, slack_env, telegram_env

from dvrules import DVRules, TinyDBStore


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "sessions"


@pytest.fixture
def store(store_path: Path) -> TinyDBStore:
    return TinyDBStore(store_path)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture
async def telegram(
    fake_telegram: FakeTelegram, store: TinyDBStore, store_path: Path, rules: DVRules
) -> AsyncIterator[TelegramRunner]:
    runner = TelegramRunner(fake_telegram, store, rules, telegram_env(store_path, fake_telegram))
    await runner.start()
    yield runner
    await runner.stop()


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack(ALLOWED_TEAM).start()
    yield fake
    fake.stop()


@pytest.fixture
def slack(
    fake_slack: FakeSlack, store: TinyDBStore, store_path: Path, rules: DVRules
) -> Iterator[SlackRunner]:
    runner = SlackRunner(fake_slack, store, rules, slack_env(store_path, fake_slack))
    yield runner
    runner.stop()
