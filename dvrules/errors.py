"""One base for every error dvrules raises on purpose, so an embedding app can catch them all.

Each subclass also keeps the built-in base it had before (``ValueError``, ``KeyError``,
``RuntimeError``), so code written against the older classes still catches them.
"""

from __future__ import annotations


class DVRulesError(Exception):
    """Something dvrules refused or could not do; the message is one line for a person."""


class UnknownFlowError(DVRulesError, KeyError):
    """A flow id the knowledge does not have."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownItemError(DVRulesError, KeyError):
    """A result item (requirement, referral, gap, step) id the flow does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


__all__ = ["DVRulesError", "UnknownFlowError", "UnknownItemError"]
