"""How the Slack bot runs: under gunicorn over HTTP, or over Socket Mode.

HTTP (the Procfile's ``web``): ``create_wsgi_app()`` is gunicorn's entry point; it checks the
configuration before anything starts and answers Slack at /slack/events and the platform at
``GET /healthz``. Several workers share sessions and the memory of requests seen through the
store (``DVRULES_STORE``). Socket Mode (no public URL, needs SLACK_APP_TOKEN):
``python -m bots.slack_server --socket-mode``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterable

from slack_sdk import WebClient

from bots.config import check, open_store_or_exit, setup_logging, slack_config
from bots.slack import SlackBot

log = logging.getLogger("dvrules.slack")

SWITCH_INTERVAL = 0.001  # s: a thread acking waits at most this for the GIL (default: 5 ms)


def create_wsgi_app() -> Callable[..., Iterable[bytes]]:
    """gunicorn entry point (``'bots.slack_server:create_wsgi_app()'``)."""
    config = check(slack_config, "dvrules slack")
    sys.setswitchinterval(SWITCH_INTERVAL)  # acks first: turns are CPU-bound, acks are short
    setup_logging(config.common.log_level)
    log.info("Slack bot starting (HTTP mode)")
    return SlackBot(config, store=open_store_or_exit(config.common, "dvrules slack")).wsgi()


def run_socket_mode() -> None:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    config = check(slack_config, "dvrules slack", socket_mode=True)
    setup_logging(config.common.log_level)
    bot = SlackBot(
        config, store=open_store_or_exit(config.common, "dvrules slack"), socket_mode=True
    )
    web = WebClient(token=config.app_token, base_url=config.api_url) if config.api_url else None
    handler = SocketModeHandler(bot.app, config.app_token, web_client=web)
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopped.set())
    handler.connect()
    log.info("Slack bot started (Socket Mode)")
    stopped.wait()
    handler.close()
    log.info("Slack bot stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bots.slack_server", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN)",
    )
    args = parser.parse_args(argv)
    if not args.socket_mode:
        parser.error("HTTP mode runs under gunicorn: see the Procfile; or pass --socket-mode")
    run_socket_mode()
    sys.exit(0)


if __name__ == "__main__":
    main()
