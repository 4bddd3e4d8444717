"""What each sentence of a chunk is: body text, a heading, a list, a table row, or apparatus.

Only body text, lists and table rows may become a claim. Headings, reference entries, footnotes,
tables of contents and cover metadata look like sentences to a splitter and like answers to a
similarity score ("1.3 Composition, functions and operations", "21 CFR 314.3(b).", "EMA/CHMP/123/2024"),
but they state nothing a reader could rely on. A list lead-in ("… should explain the following:")
states nothing without its items, so the picker brings the items with it.

Labels are a pure function of the stored chunk text, so ingest, the picker and the tests see the same
label for the same sentence; `label_sentences` is what all of them call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from assistant.sentences import normalise, sentence_spans
from ingest.cleaning import TABLE_ROW

Label = Literal["body", "heading", "lead_in", "list_item", "table_row", "reference", "footnote", "toc", "cover"]
CLAIMABLE: frozenset[str] = frozenset({"body", "lead_in", "list_item", "table_row"})

# "1.3.5 ", "C.2.3 ", "3.4 ", "II.B ": section numbering at the start of a sentence, not part of what it says.
_SECTION_NUMBER = re.compile(r"^(?:[A-Z]\.)?\d+(?:\.\d+)+\.?\s+(?=[A-Z(“\"])|^[IVX]+\.(?:[A-Z]\.)?\s+(?=[A-Z])")
# The same numbering further in: "1.3 Composition, functions and operations 1.3.1 The IRB/IEC should …"
_INNER_NUMBER = re.compile(r"\s(?:[A-Z]\.)?\d+(?:\.\d+)+\.?\s+(?=[A-Z])")
_ITEM = re.compile(r"^(?:[•▪●◦\-–*]|\(?[a-z]{1,2}\)|\(?[ivx]{1,4}\)|\(?\d{1,2}\)|\d{1,2}\.(?!\d))\s")
_URL = re.compile(r"https?://|www\.|\bdoi\b|\.(?:pdf|htm)\b", re.IGNORECASE)
_CITE = re.compile(
    r"^(?:see\s+)?(?:id\.|ibid\.?|\d+\s+(?:CFR|U\.S\.C\.|FR)\b|section\s+\d+\S*\s+of\s+the\b|available\s+at\b)",
    re.IGNORECASE,
)
# A bibliography entry: a title with a month and year, a journal citation, or "Guidance for Industry …, 2019".
_BIBLIO = re.compile(
    r"\((?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d{4}\)"
    r"|\b\d{4};\s*\d+|\bet al\.|\bVol\.\s*\d+|\bpp\.\s*\d+"
    # "Lewis, D. J., & McCallum, J. F. (2020)." and a bare "(2017)."
    r"|^[A-Z][a-z]+, (?:[A-Z]\. ?)+|^\(\d{4}\)\.?$",
)
# A footnote reference: a number glued to the word or punctuation before it ("records.6", "isolator11").
_MARKER = re.compile(r"(?<=[a-z.,;:)”\"’])(\d{1,3})(?=[\s.,;)]|$)")
_FOOTNOTE = re.compile(r"^\d{1,3}\s+(?=[A-Z“\"])(?!\d)")
_TOC = re.compile(r"(?:\.\s?){4,}|…{2,}|\s\d{1,3}\s*$")
_COVER = re.compile(
    r"\b(?:EMA|EMEA|CHMP|CPMP|HMA)/[A-Z0-9/.\-]+|\bPage \d+ of \d+\b|\bDocket No\.|\bOMB Control\b"
    r"|^(?:Adopted by|Start of public consultation|End of consultation|Date for coming into effect|Draft agreed by)\b"
    r"|\bContains Nonbinding Recommendations\b",
)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a chunk: its verbatim span (after any section number) and what kind of text it is."""

    start: int
    end: int
    label: Label

    @property
    def claimable(self) -> bool:
        """Whether it may become a claim of an answer."""
        return self.label in CLAIMABLE


def strip_numbering(text: str, start: int, end: int) -> int:
    """Where a sentence's content begins: after its section number, and after a heading run into it."""
    span = text[start:end]
    m = _SECTION_NUMBER.match(span)
    if m:
        start += m.end()
        span = text[start:end]
    # A heading without a full stop that runs into numbered text: keep the numbered sentence only.
    inner = _INNER_NUMBER.search(span[:120])
    if inner and "." not in span[: inner.start()].rstrip(". ") and len(span[: inner.start()].split()) <= 12:
        start += inner.end()
    return start


def _letters(text: str) -> float:
    return sum(ch.isalpha() for ch in text) / max(1, len(text))


def label_of(sentence: str, previous: Label | None, markers: frozenset[str] = frozenset()) -> Label:
    """The label of one sentence (whitespace normalised), given the label of the sentence before it.

    `markers` are the footnote numbers referenced in the text ("… the ANDA.38 FDA will …" references 38): a
    sentence that starts with one of them is the footnote; one that starts with another number is a
    numbered paragraph whose number lost its dot (OCR reads "7.2" as "72").
    """
    s = sentence.strip()
    words = s.split()
    if TABLE_ROW.match(s):
        return "table_row"  # one row of a Word or ruled PDF table, as ingest writes it
    if _TOC.search(s) and re.search(r"(?:\.\s?){4,}|…{2,}", s):
        return "toc"
    if _COVER.search(s) and len(words) < 40:
        return "cover"
    if _URL.search(s) or _CITE.match(s) or (_BIBLIO.search(s) and not re.search(r"\b(?:should|must|may)\b", s)):
        return "reference"
    m = _FOOTNOTE.match(s)
    if m and previous != "lead_in" and s.split()[0] in markers:
        return "footnote"
    if _ITEM.match(s) and len(words) <= 7 and s[-1:] not in ".;:,)" and previous not in ("lead_in", "list_item"):
        return "heading"  # "2. Audit Trail", "(5) Additional Considerations for Assurance Activities"
    if _ITEM.match(s) or (previous in ("lead_in", "list_item") and s.endswith((";", "; and", "; or"))):
        return "list_item"
    if s.endswith(":"):
        return "lead_in"
    digits = sum(ch.isdigit() for ch in s)
    if _letters(s) < 0.5 or (digits > 8 and digits / max(1, len(s)) > 0.2):
        return "table_row"
    if s[-1:] not in '.;!?)”"' and len(words) <= 14:
        return "heading"
    if len(words) < 4:
        return "heading"
    return "body"


@lru_cache(maxsize=4096)
def label_sentences(text: str) -> tuple[Sentence, ...]:
    """Every sentence of a chunk's text, with its label and its span from the start of its content.

    Cached by text: one answer labels the same retrieved chunks for the picker, the decision's features and
    the check for guidelines cited only by title."""
    out: list[Sentence] = []
    previous: Label | None = None
    markers = frozenset(_MARKER.findall(text))
    for s, e in sentence_spans(text):
        start = strip_numbering(text, s, e)
        if start >= e:
            start = s
        label = label_of(normalise(text[start:e]), previous, markers)
        out.append(Sentence(start, e, label))
        previous = label
    return tuple(out)
