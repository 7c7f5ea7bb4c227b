"""Running the API with uvicorn: refuse an open address without a token, log nothing of a case.

uvicorn's access log is off (it would write every path, and a path can hold an assessment id
or whatever a client put there); ``dvrules.http`` logs one line per request with the route's
template, its status and its time instead.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from dvrules.http.app import TOKEN_ENV

MIN_TOKEN = 16


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere


def start_problem(host: str, token: str) -> str | None:
    """Why the server must not start on ``host`` with ``token``, in one line, or None."""
    if token and len(token) < MIN_TOKEN:
        return (
            f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN} random characters, e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not token and not is_loopback(host):
        return (
            f"serve: refusing to listen on {host} without a token; set {TOKEN_ENV} (at least "
            f"{MIN_TOKEN} random characters), or serve on 127.0.0.1"
        )
    return None


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "dvrules": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def run(host: str, port: int) -> None:
    """Serve the API until interrupted (the caller has checked ``start_problem``)."""
    import uvicorn

    from dvrules.http.app import create_app

    app = create_app(token=os.environ.get(TOKEN_ENV, "").strip())
    uvicorn.run(
        app,
        host=host,
        port=port,
        access_log=False,
        log_config=LOG_CONFIG,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For names a person's address: not needed, not kept
        timeout_graceful_shutdown=20,
    )


__all__ = ["LOG_CONFIG", "MIN_TOKEN", "TOKEN_ENV", "is_loopback", "run", "start_problem"]
