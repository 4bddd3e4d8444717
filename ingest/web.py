"""Saved web pages (.html/.htm): the main text, title, date and site, read by trafilatura.

trafilatura finds the article and leaves out navigation, cookie banners, sidebars and footers; what it
returns is Markdown-like (`#` headings, `-` list items, `| a | b |` table rows), as the chunker reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.errors import IngestError


@dataclass(frozen=True)
class WebPage:
    """The article of one saved page and what the page says about itself."""

    text: str
    title: str | None
    date: str | None  # ISO date, as the page or its metadata gives it
    site: str | None


def read_html(name: str, markup: str | bytes) -> WebPage:
    """Extract the article of a saved web page; raise IngestError naming the file when there is none."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        markup,
        with_metadata=True,
        include_tables=True,
        include_formatting=True,
        include_comments=False,
        include_images=False,
        deduplicate=True,
    )
    if doc is None or isinstance(doc, dict) or not (doc.text or "").strip():
        raise IngestError(name, "no text in the HTML body (no article: only navigation, banners or nothing)")
    return WebPage(
        text=doc.text or "", title=doc.title or None, date=doc.date or None, site=doc.sitename or doc.hostname or None
    )
