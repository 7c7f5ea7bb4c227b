"""dvrules: UK domestic-violence standards, risk prompts and referral pathways as cited rules.

Start with ``DVRules`` (assess answers, list questions, explain an item) and ``Session`` (a
resumable guided interview, kept in a store from ``open_store`` or a ``MemoryStore``). Every
error dvrules raises on purpose is a ``DVRulesError``. The policy itself lives in the YAML
knowledge base, not here.
"""

from dvrules.api import DVRules, QuestionView, default_rules
from dvrules.errors import (
    AnswerError,
    DVRulesError,
    EngineError,
    KnowledgeError,
    StoreError,
    UnknownFlowError,
    UnknownItemError,
)
from dvrules.interview import Session, SessionError
from dvrules.knowledge import KnowledgeBase, load_knowledge
from dvrules.results import AssessmentResult, ReferralResult, Result
from dvrules.store import MemoryStore, SessionStore, TinyDBStore, open_store

__version__ = "0.1.0"

__all__ = [
    "AnswerError",
    "AssessmentResult",
    "DVRules",
    "DVRulesError",
    "EngineError",
    "KnowledgeBase",
    "KnowledgeError",
    "MemoryStore",
    "QuestionView",
    "ReferralResult",
    "Result",
    "Session",
    "SessionError",
    "SessionStore",
    "StoreError",
    "TinyDBStore",
    "UnknownFlowError",
    "UnknownItemError",
    "default_rules",
    "load_knowledge",
    "open_store",
]
