"""Sentence spans with exact offsets, so a quote is always a verbatim slice of its chunk."""

from __future__ import annotations

import re

from ingest.cleaning import TABLE_ROW

_ABBREV = re.compile(
    r"(?:\b(?:e\.g|i\.e|etc|vs|cf|Sec|No|Nos|Fig|Vol|Inc|Ltd|Co|Dr|Mr|Ms|St|approx|al|Rev|Art|para)\.|\b[A-Z]\.)$"
)
_NUMBERING = re.compile(r"(?:\d+(?:\.\d+)*|[IVX]+|[A-Za-z])\.?")
_BOUNDARY = re.compile(
    r"[.!?;](?:[\"”’')\]])?(?=\s+[\"“‘(\[]?[A-Z0-9•])|\n\s*\n|\n(?=\s*(?:[•▪●\-–*]|\(?[a-z0-9]{1,3}\)|\d+(?:\.\d+)*\.?\s+[A-Z])\s)"
)


def sentence_spans(text: str, min_chars: int = 3) -> list[tuple[int, int]]:
    """(start, end) offsets of the sentences of `text`, trimmed of surrounding whitespace."""
    if "|" not in text:
        return _prose_spans(text, 0, min_chars)
    # A table row is one sentence, whatever its cells hold: a quote of a table is a whole row, as the
    # page shows it.
    out: list[tuple[int, int]] = []
    start = 0
    for m in TABLE_ROW.finditer(text):
        out.extend(_prose_spans(text[start : m.start()], start, min_chars))
        s, e = m.start(), m.end()
        while text[s] in " \t":
            s += 1
        while text[e - 1] in " \t":
            e -= 1
        out.append((s, e))
        start = m.end()
    out.extend(_prose_spans(text[start:], start, min_chars))
    return out


def _prose_spans(text: str, offset: int, min_chars: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.end() if text[m.start()] in ".!?;" else m.start()
        if _ABBREV.search(text[max(start, end - 8) : end]) or _NUMBERING.fullmatch(text[start:end].strip()):
            continue
        spans.append((start, end))
        start = m.end()
    spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in _split_headings(text, spans):
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e - s >= min_chars:
            out.append((offset + s, offset + e))
    return out


def _split_headings(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A short unpunctuated first line is a heading, not the start of the sentence below it."""
    out: list[tuple[int, int]] = []
    for s, e in spans:
        nl = text.find("\n", s, e)
        head = text[s:nl].strip() if nl != -1 else ""
        if nl != -1 and 3 <= len(head) <= 60 and head[-1] not in ".;:!?," and text[nl + 1 : nl + 2].isupper():
            out.extend([(s, nl), (nl + 1, e)])
        else:
            out.append((s, e))
    return out


def normalise(text: str) -> str:
    """Collapse whitespace, for display and comparison (never for quotes)."""
    return re.sub(r"\s+", " ", text).strip()
