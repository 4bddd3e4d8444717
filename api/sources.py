"""Source changes: approved answers whose cited passages changed or disappeared go back to review.

A citation is checked by its quote, not by its chunk id: re-ingesting a document with an unrelated page
changed shifts chunk ids but leaves the quoted words in place, and that answer stays approved. When the
quote is gone, the record says what the closest passage of the new version reads now.
"""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from api.audit import append, record_state
from api.db import Database, write_lock
from api.models import CitationRow, Record
from ingest.catalog import Catalog


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


class DocumentTexts:
    """Whole-document text of live documents, by file name, read once per check."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.live = {r["file"]: (r["document_id"], int(r["pages"])) for r in catalog.documents()}
        self._text: dict[str, str] = {}

    def text(self, file: str) -> str:
        """The normalised text of the live document stored under `file`."""
        if file not in self._text:
            doc_id, pages = self.live[file]
            parts = [self.catalog.page_text(doc_id, n) or "" for n in range(1, pages + 1)]
            self._text[file] = _norm("\n".join(parts))
        return self._text[file]


def change_of(c: CitationRow, texts: DocumentTexts) -> dict[str, Any] | None:
    """What happened to a cited passage, or None when its quote is still in the live document."""
    live = texts.live.get(c.file)
    if live is None:
        return {"n": c.n, "file": c.file, "change": "removed", "old_quote": c.quote, "old_document_id": c.document_id}
    if live[0] == c.document_id:
        return None
    quote = _norm(c.quote)
    body = texts.text(c.file)
    if quote in body:
        return None
    found = fuzz.partial_ratio_alignment(quote, body)
    now = ""
    if found:
        # The alignment is by characters: widen it to whole words, so "alances … filed" reads "Balances … filed."
        a, b = found.dest_start, found.dest_end
        while a > 0 and not body[a - 1].isspace():
            a -= 1
        while b < len(body) and not body[b].isspace():
            b += 1
        now = body[a:b]
    return {
        "n": c.n,
        "file": c.file,
        "change": "changed",
        "old_quote": c.quote,
        "now_reads": now,
        "similarity": round(found.score / 100, 3) if found else 0.0,
        "old_document_id": c.document_id,
        "new_document_id": live[0],
    }


def check_sources(db: Database, session: Session, catalog: Catalog) -> list[str]:
    """Mark approved answers whose cited passages changed as needing re-review; return their ids."""
    write_lock(session)  # an edit or approval of the same record waits, and sees this change
    texts = DocumentTexts(catalog)
    live_ids = {doc_id for doc_id, _ in texts.live.values()}
    stale = session.scalars(
        select(Record)
        .options(selectinload(Record.citations), selectinload(Record.versions))
        .where(Record.status == "approved", Record.citations.any(CitationRow.document_id.not_in(live_ids or {""})))
        .with_for_update(of=Record)
    ).all()
    marked: list[str] = []
    for record in stale:
        cited = {n for c in record.versions[-1].claims for n in c.get("citations", [])}
        changes = [ch for c in record.citations if c.n in cited and (ch := change_of(c, texts)) is not None]
        if not changes:
            # The documents were re-ingested but every quoted passage is still there word for word.
            for c in record.citations:
                if c.file in texts.live:
                    c.document_id = texts.live[c.file][0]
            continue
        record.status = "needs_rereview"
        record.rereview = changes
        marked.append(record.id)
        append(
            db,
            session,
            None,
            "system",
            "rereview",
            record.id,
            {"changes": [{k: v for k, v in ch.items() if k in ("n", "file", "change", "similarity")} for ch in changes]}
            | record_state(record, record.versions[-1].text),
        )
    return marked
