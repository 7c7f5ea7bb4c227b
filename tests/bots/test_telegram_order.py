"""Telegram updates: one person's are handled one at a time and in order, while other people's
go ahead meanwhile (``bots.telegram_server.OnePerChat``, the bot's update processor)."""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update

from bots.config import telegram_config
from bots.telegram import build_application
from bots.telegram_server import OnePerChat
from tests.bots.bot_fakes import SALT, TELEGRAM_TOKEN


def _update(update_id: int, chat: int) -> Update:
    person = {"id": chat, "is_bot": False, "first_name": "Worker"}
    return Update.de_json(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "from": person,
                "chat": {"id": chat, "type": "private"},
                "text": "skip",
            },
        },
        None,
    )


async def test_a_persons_updates_wait_for_each_other_but_not_for_other_people() -> None:
    processor = OnePerChat()
    events: list[str] = []
    first_done = asyncio.Event()

    async def handle(tag: str, hold: asyncio.Event | None = None) -> None:
        events.append(f"start {tag}")
        if hold is not None:
            await hold.wait()
        events.append(f"end {tag}")

    tasks = [
        asyncio.create_task(processor.process_update(_update(1, 4242), handle("a1", first_done))),
        asyncio.create_task(processor.process_update(_update(2, 4242), handle("a2"))),
        asyncio.create_task(processor.process_update(_update(3, 99), handle("b1"))),
    ]
    await asyncio.sleep(0.05)
    # Person a's second message waits for their first; person b is answered meanwhile.
    assert events == ["start a1", "start b1", "end b1"]
    first_done.set()
    await asyncio.gather(*tasks)
    assert events[3:] == ["end a1", "start a2", "end a2"]


async def test_many_updates_from_one_person_are_handled_in_the_order_they_came() -> None:
    processor = OnePerChat()
    seen: list[int] = []

    async def handle(n: int) -> None:
        await asyncio.sleep(0.001 * (n % 3))  # later ones would overtake if allowed to
        seen.append(n)

    await asyncio.gather(
        *(processor.process_update(_update(n, 4242), handle(n)) for n in range(30))
    )
    assert seen == list(range(30))


def test_the_bot_processes_updates_with_it(tmp_path: Any) -> None:
    config = telegram_config(
        {
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "DVRULES_TELEGRAM_ALLOWED_USERS": "4242",
            "DVRULES_ID_SALT": SALT,
            "DVRULES_DB": str(tmp_path),
        }
    )
    app = build_application(config)
    assert isinstance(app.update_processor, OnePerChat)
    assert app.update_processor.max_concurrent_updates > 1
