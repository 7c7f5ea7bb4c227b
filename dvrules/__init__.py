"""dvrules: UK domestic-violence standards, risk prompts and referral pathways as cited rules.

Start with ``DVRules`` (assess answers, list questions, explain an item) and ``Session`` (a
resumable guided interview). The policy itself lives in the YAML knowledge base, not here.
"""

from dvrules.answers import AnswerError
from dvrules.api import DVRules, QuestionView, default_rules
from dvrules.interview import Session, SessionError
from dvrules.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from dvrules.results import AssessmentResult, ReferralResult, Result
from dvrules.store import MemoryStore, SessionStore, StoreError, TinyDBStore

__version__ = "0.1.0"

__all__ = [
    "AnswerError", "AssessmentResult", "MemoryStore", "DVRules", "KnowledgeBase", "KnowledgeError",
    "QuestionView", "ReferralResult", "Result", "Session", "SessionError", "SessionStore",
    "StoreError", "TinyDBStore", "default_rules", "load_knowledge",
]
