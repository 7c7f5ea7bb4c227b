"""One citation format for every channel: a typed ``Citation`` that prints itself.

Knowledge items carry their source as ``{document, section, footnote}`` (and, for an outside
source, a URL and the date it was checked); ``Citation.of`` looks the document up once, so no
renderer needs the knowledge base to name a source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from dvrules.knowledge import KnowledgeBase


class Citation(BaseModel):
    """Where a point comes from: document (title, year) and section, or a page and its date."""

    document: str
    title: str
    year: int | None = None
    section: str | None = None
    footnote: int | str | None = None
    url: str | None = None
    date: str | None = None  # the date the page shows ("n.d." when it shows none)
    checked: str | None = None  # when the fact was last checked against the page (ISO date)

    @classmethod
    def of(cls, kb: KnowledgeBase, source: Mapping[str, Any]) -> Citation:
        doc_id = str(source.get("document", ""))
        doc = kb.documents.get(doc_id)
        checked = (
            source.get("last_reviewed")
            or source.get("checked")
            or (getattr(doc, "last_reviewed", None) if source.get("url") else None)
        )
        date = source.get("date")
        return cls(
            document=doc_id,
            title=doc.title if doc else doc_id or "unknown source",
            year=doc.year if doc else None,
            section=source.get("section"),
            footnote=source.get("footnote"),
            url=source.get("url") or (getattr(doc, "url", None) if doc else None),
            date=str(date) if date else None,
            checked=str(checked) if checked else None,
        )

    def __str__(self) -> str:
        text = self.title + (f" ({self.year})" if self.year else "")
        if self.section:
            text += f", {self.section}"
        if self.footnote is not None:
            text += f", footnote {self.footnote}"
        if self.url:
            text += f", {self.url}"
            when = []
            if self.date:
                when.append("undated page" if self.date == "n.d." else f"dated {self.date}")
            if self.checked:
                when.append(f"checked {self.checked}")
            if when:
                text += f" ({'; '.join(when)})"
        return text

    def line(self) -> str:
        """The citation as a line under an item."""
        return f"Source: {self}"
