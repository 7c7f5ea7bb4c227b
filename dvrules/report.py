"""Results as readable text or Markdown for ``assess --format text|markdown`` (e.g. an audit
pack) and the terminal: the chat composer's layout, whole, through one formatter per format.

There is no second layout of a result here: ``dvrules.chat.compose`` lays results out once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dvrules.chat import formats
from dvrules.chat.citation import Citation
from dvrules.chat.compose import Composer
from dvrules.chat.messages import plain_text
from dvrules.knowledge import KnowledgeBase
from dvrules.results import Result


def _kb(kb: KnowledgeBase | None) -> KnowledgeBase:
    if kb is not None:
        return kb
    from dvrules.api import default_rules

    return default_rules().kb


def cite_text(source: Mapping[str, Any], kb: KnowledgeBase | None = None) -> str:
    """A source as one line of text (the one citation format)."""
    return str(Citation.of(_kb(kb), source))


def headline(result: Result, kb: KnowledgeBase | None = None) -> str:
    """The result's figure (level, score, or risk level) as one line."""
    view = Composer(_kb(kb)).result_view(result, complete=True)
    return plain_text(view.headline[1:2]).split("\n")[0]


def render(
    result: Result,
    markdown: bool = False,
    kb: KnowledgeBase | None = None,
    width: int | None = None,
) -> str:
    """The whole result as text (wrapped to ``width`` if given) or Markdown."""
    paragraphs = Composer(_kb(kb)).full_result(result)
    out = formats.markdown(paragraphs) if markdown else formats.text(paragraphs, width)
    return out.rstrip() + "\n"
