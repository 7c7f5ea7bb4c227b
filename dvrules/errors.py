"""One base for every error dvrules raises on purpose, so an embedding app can catch them all.

``except DVRulesError`` catches a refused answer, an unknown flow or item, a store that cannot
be read or written, invalid knowledge and an engine failure; each message is one line for a
person. Every class keeps the built-in base it had before (``ValueError``, ``KeyError``,
``RuntimeError``), so code written against the older classes still catches them. The classes
are defined here and re-exported where they were (``dvrules.answers.AnswerError`` etc.).
"""

from __future__ import annotations


class DVRulesError(Exception):
    """Something dvrules refused or could not do; the message is one line for a person."""


class AnswerError(DVRulesError, ValueError):
    """An answer that does not fit its question; the message names the id and what is allowed."""

    def __init__(self, question_id: str, message: str):
        super().__init__(f"{question_id}: {message}")
        self.question_id = question_id
        self.reason = message


class KnowledgeError(DVRulesError, ValueError):
    """The knowledge base (or a local directory) is not valid; the message says where."""


class UnknownFlowError(DVRulesError, KeyError):
    """A flow id the knowledge does not have; the message lists the flows there are."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownItemError(KnowledgeError, KeyError):
    """A result item (requirement, referral, gap, step) id the flow does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class StoreError(DVRulesError, RuntimeError):
    """The session store cannot be read or written; nothing was changed."""


class EngineError(DVRulesError, RuntimeError):
    """The rules engine failed; the evaluation is refused rather than half-reported."""


__all__ = [
    "AnswerError",
    "DVRulesError",
    "EngineError",
    "KnowledgeError",
    "StoreError",
    "UnknownFlowError",
    "UnknownItemError",
]
