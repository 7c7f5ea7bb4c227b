"""Bot configuration from environment variables, checked at start with one clear message.

Every problem found is listed at once (``ConfigError``), naming the variable and where its
value comes from, so a newcomer fixes the configuration in one go. See docs/bots.md.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from dvrules.store import SessionStore, StoreError, TinyDBStore, default_store_dir, open_store

T = TypeVar("T")

MIN_SALT_LENGTH = 32


class ConfigError(Exception):
    """The configuration cannot work; the message lists every problem found."""

    def __init__(self, program: str, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{program} cannot start:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nSee docs/bots.md for every setting."
        )


@dataclass(frozen=True)
class Common:
    id_salt: str
    store_dir: Path
    area: str | None
    log_level: str
    store_url: str | None = None  # DVRULES_STORE (e.g. redis://...): shared by every process


@dataclass(frozen=True)
class TelegramConfig:
    common: Common
    token: str
    allowed_users: frozenset[int]
    base_url: str | None
    webhook_url: str | None
    webhook_secret: str | None
    port: int | None


@dataclass(frozen=True)
class SlackConfig:
    common: Common
    bot_token: str
    signing_secret: str | None
    app_token: str | None
    allowed_teams: frozenset[str]
    allowed_enterprises: frozenset[str]
    allowed_users: frozenset[str]
    api_url: str | None
    command: str = "/dvrules"


def _list(env: Mapping[str, str], name: str) -> list[str]:
    return [x for x in re.split(r"[\s,]+", env.get(name, "").strip()) if x]


def _common(env: Mapping[str, str], problems: list[str]) -> Common:
    salt = env.get("DVRULES_ID_SALT", "")
    if len(salt) < MIN_SALT_LENGTH:
        problems.append(
            f"DVRULES_ID_SALT must be a random secret of at least {MIN_SALT_LENGTH} characters "
            "(for example: python -c 'import secrets; print(secrets.token_hex(32))'); it turns "
            "chat ids into session ids, so keep it secret and never change it"
        )
    level = env.get("DVRULES_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append("DVRULES_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR")
        level = "INFO"
    ttl = env.get("DVRULES_SESSION_TTL_DAYS")
    if ttl:
        try:
            if float(ttl) <= 0:
                raise ValueError
        except ValueError:
            problems.append("DVRULES_SESSION_TTL_DAYS must be a positive number of days")
    store = Path(env["DVRULES_DB"]) if env.get("DVRULES_DB") else default_store_dir()
    url = env.get("DVRULES_STORE", "").strip() or None
    return Common(salt, store, env.get("DVRULES_AREA") or None, level, url)


def telegram_config(env: Mapping[str, str] | None = None) -> TelegramConfig:
    env = os.environ if env is None else env
    problems: list[str] = []
    common = _common(env, problems)
    token = env.get("TELEGRAM_BOT_TOKEN", "")
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]{20,}", token):
        problems.append(
            "TELEGRAM_BOT_TOKEN must be the token BotFather gave you "
            "(digits, a colon, then letters)"
        )
    users: set[int] = set()
    for raw in _list(env, "DVRULES_TELEGRAM_ALLOWED_USERS"):
        if raw.isdigit():
            users.add(int(raw))
        else:
            problems.append(
                f"DVRULES_TELEGRAM_ALLOWED_USERS: {raw[:20]!r} is not a numeric Telegram user id"
            )
    if not users and not any("ALLOWED_USERS" in p for p in problems):
        problems.append(
            "DVRULES_TELEGRAM_ALLOWED_USERS must list the numeric Telegram user ids "
            "allowed to use the bot (comma-separated); nobody else is answered"
        )
    webhook_url = env.get("DVRULES_TELEGRAM_WEBHOOK_URL") or None
    secret = env.get("DVRULES_TELEGRAM_WEBHOOK_SECRET") or None
    port = None
    if webhook_url:
        if not webhook_url.startswith("https://"):
            problems.append("DVRULES_TELEGRAM_WEBHOOK_URL must be an https:// URL")
        if not secret or not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
            problems.append(
                "DVRULES_TELEGRAM_WEBHOOK_SECRET must be 16-256 letters, digits, _ "
                "or - when DVRULES_TELEGRAM_WEBHOOK_URL is set (Telegram sends it "
                "with every update and others are refused)"
            )
        port = _port(env, problems)
    if problems:
        raise ConfigError("dvrules telegram", problems)
    return TelegramConfig(
        common,
        token,
        frozenset(users),
        env.get("DVRULES_TELEGRAM_BASE_URL") or None,
        webhook_url,
        secret,
        port,
    )


def slack_config(env: Mapping[str, str] | None = None, *, socket_mode: bool = False) -> SlackConfig:
    env = os.environ if env is None else env
    problems: list[str] = []
    common = _common(env, problems)
    token = env.get("SLACK_BOT_TOKEN", "")
    if not token.startswith("xoxb-"):
        problems.append(
            "SLACK_BOT_TOKEN must be the Bot User OAuth Token (xoxb-...) from "
            "OAuth & Permissions of your Slack app"
        )
    signing = env.get("SLACK_SIGNING_SECRET") or None
    app_token = env.get("SLACK_APP_TOKEN") or None
    if socket_mode:
        if not app_token or not app_token.startswith("xapp-"):
            problems.append(
                "SLACK_APP_TOKEN must be an app-level token (xapp-...) with the "
                "connections:write scope, for Socket Mode"
            )
    elif not signing:
        problems.append(
            "SLACK_SIGNING_SECRET must be the Signing Secret from Basic Information "
            "of your Slack app (every request is checked against it)"
        )
    teams = frozenset(_list(env, "DVRULES_SLACK_ALLOWED_TEAMS"))
    enterprises = frozenset(_list(env, "DVRULES_SLACK_ALLOWED_ENTERPRISES"))
    users = frozenset(_list(env, "DVRULES_SLACK_ALLOWED_USERS"))
    for name, ids, first in (
        ("DVRULES_SLACK_ALLOWED_TEAMS", teams, "T"),
        ("DVRULES_SLACK_ALLOWED_ENTERPRISES", enterprises, "E"),
        ("DVRULES_SLACK_ALLOWED_USERS", users, "UW"),
    ):
        for x in sorted(ids):
            if not re.fullmatch(rf"[{first}][A-Z0-9]{{2,30}}", x):
                problems.append(f"{name}: {x[:20]!r} does not look like a Slack id")
    if not teams and not enterprises:
        problems.append(
            "DVRULES_SLACK_ALLOWED_TEAMS (workspace ids, T...) or "
            "DVRULES_SLACK_ALLOWED_ENTERPRISES (E...) must name who may use the bot"
        )
    if not socket_mode and env.get("PORT") is not None:
        _port(env, problems)
    command = env.get("DVRULES_SLACK_COMMAND") or "/dvrules"
    if not re.fullmatch(r"/[a-z0-9_-]{1,31}", command):
        problems.append("DVRULES_SLACK_COMMAND must be the slash command's name, like /dvrules")
    if problems:
        raise ConfigError("dvrules slack", problems)
    return SlackConfig(
        common,
        token,
        signing,
        app_token,
        teams,
        enterprises,
        users,
        env.get("DVRULES_SLACK_API_URL") or None,
        command,
    )


def _port(env: Mapping[str, str], problems: list[str]) -> int | None:
    raw = env.get("PORT", "")
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    problems.append("PORT must be the port to listen on (1-65535)")
    return None


def check(config_fn: Callable[..., T], program: str, *args: Any, **kwargs: Any) -> T:
    """Load a configuration or print its problems and exit with status 2."""
    try:
        return config_fn(*args, **kwargs)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        raise SystemExit(2) from None


def slack_web_client(config: SlackConfig, **kwargs: Any) -> Any:
    """A slack_sdk ``WebClient`` for the bot token (and the API URL a test or proxy sets)."""
    from slack_sdk import WebClient  # the Slack extra: only when Slack runs

    if config.api_url:
        kwargs["base_url"] = config.api_url
    return WebClient(token=config.bot_token, **kwargs)


def open_common_store(common: Common) -> SessionStore:
    """The session store the configuration names: ``DVRULES_STORE`` (a URL such as
    ``redis://host:6379/0``, shared by every process and machine) when set, else the file
    store in ``DVRULES_DB``. A ``StoreError`` if it cannot be opened."""
    if common.store_url:
        return open_store(common.store_url)
    return TinyDBStore(common.store_dir)


def open_store_or_exit(common: Common, program: str) -> SessionStore:
    """The session store, or a clear message and exit status 2 if it cannot be opened."""
    try:
        return open_common_store(common)
    except StoreError as err:
        setting = "DVRULES_STORE" if common.store_url else "DVRULES_DB"
        text = str(err).removeprefix("DVRULES_STORE: ")
        print(f"{program} cannot start:\n  - {setting}: {text}", file=sys.stderr)
        raise SystemExit(2) from None


def setup_logging(level: str) -> None:
    """Our log lines only: the HTTP clients log request URLs (the Telegram token is in them)
    and the Slack SDK logs request bodies at debug level, so they are kept to warnings."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_libraries()


def quiet_libraries() -> None:
    for noisy in (
        "httpx",
        "httpcore",
        "slack_sdk",
        "slack_bolt",
        "telegram",
        "urllib3",
        "websocket",
        "tornado",
        "gunicorn.access",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
