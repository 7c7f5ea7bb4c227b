"""Session ids for platform identities, log tags, and the sentences a channel's gate sends."""

from __future__ import annotations

import hashlib
import hmac

from dvrules.chat.messages import EMERGENCY

REFUSED = (
    "Sorry, this bot is only open to people its administrators have added, so I can't "
    "help here. " + EMERGENCY
)
PRIVATE_ONLY = (
    "I only work in a private chat with one person, to keep case details out of "
    "groups. " + EMERGENCY
)
FAILED = (
    "Sorry, something went wrong on my side and nothing was changed. Please try again, "
    "or type start. " + EMERGENCY
)


def session_id(prefix: str, secret: str, *platform_ids: str) -> str:
    """A session id for a platform identity: ``prefix-`` and an HMAC of the ids, never the ids."""
    mac = hmac.new(secret.encode(), "\x1f".join(platform_ids).encode(), hashlib.sha256)
    return f"{prefix}-{mac.hexdigest()[:40]}"


def log_id(sid: str) -> str:
    """A short tag for logs: a hash of the (already hashed) session id."""
    return hashlib.sha256(sid.encode()).hexdigest()[:8]
