"""Document metadata: from the corpus manifest when present, inferred from the file otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ingest.errors import IngestError
from ingest.types import DocumentMeta

MANIFEST_NAME = "manifest.json"
_FIELDS = ("title", "issuing_body", "jurisdiction", "doc_type", "status", "year", "source", "licence")
_BODIES = {
    "EMA": ("EMA", "EU"),
    "EC": ("European Commission", "EU"),
    "FDA": ("FDA", "US"),
    "ICH": ("ICH", "International"),
    "MHRA": ("MHRA", "UK"),
    "HMA": ("HMA", "EU"),
}


def load_manifest(folder: Path) -> dict[str, DocumentMeta]:
    """Read `manifest.json` in `folder`, keyed by file name; an absent manifest is an empty one."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries: list[dict[str, Any]] = raw["documents"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IngestError(str(path), f"manifest is not valid: {exc}") from exc
    out: dict[str, DocumentMeta] = {}
    for i, entry in enumerate(entries):
        if "file" not in entry or "title" not in entry:
            raise IngestError(str(path), f"documents[{i}] needs 'file' and 'title'")
        out[entry["file"]] = DocumentMeta(**{k: entry[k] for k in _FIELDS if k in entry and entry[k] is not None})
    return out


def infer_meta(
    path: Path, first_text: str, pdf_title: str | None = None, date: str | None = None, site: str | None = None
) -> DocumentMeta:
    """Guess metadata for a file dropped in without a manifest entry, from its name and first page.

    A web page's own date and site name (from its metadata) give the year and the source.
    """
    stem = path.stem
    prefix = re.split(r"[_\-\s]", stem, maxsplit=1)[0].upper()
    body, jurisdiction = _BODIES.get(prefix, ("unknown", "unknown"))
    lowered = (stem + " " + first_text[:2000]).lower()
    is_draft = "draft" in stem.lower() or "not for implementation" in lowered
    if "reflection paper" in lowered:
        doc_type = "reflection paper"
    elif "annex" in stem.lower():
        doc_type = "regulation annex"
    elif "guidance" in lowered:
        doc_type = "draft guidance" if is_draft else "guidance"
    elif "guideline" in lowered:
        doc_type = "guideline"
    elif "strategy" in lowered:
        doc_type = "strategy"
    else:
        doc_type = "unknown"
    years = [int(y) for y in re.findall(r"(?<!\d)(19[89]\d|20[0-4]\d)(?!\d)", stem + " " + (date or "")[:4])]
    title = (pdf_title or "").strip() or _first_line(first_text) or stem.replace("_", " ")
    return DocumentMeta(
        title=title[:200],
        issuing_body=body,
        jurisdiction=jurisdiction,
        doc_type=doc_type,
        status="draft" if is_draft else "final",
        year=max(years) if years else None,
        source=f"{site} ({path.name})" if site else path.name,
    )


def _first_line(text: str) -> str:
    for line in text.split("\n"):
        line = line.strip().lstrip("#").strip()
        if len(line) >= 8:
            return line
    return ""
