"""Remove what no reader would cite: line numbers, running headers, hyphenation, web boilerplate."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

_TRAILING_NUMBER = re.compile(r"^(?P<body>.*?)\s*(?P<n>\d{1,4})\s*$")
_LEADING_NUMBER = re.compile(r"^\s*(?P<n>\d{1,4})(?:\s+(?P<body>.*?))?\s*$")
# A run of this many consecutive line numbers marks a line-numbered draft page;
# shorter runs are left alone because "see section 3" can end a line by chance.
_MIN_RUN = 4


def _run_numbers(lines: list[str]) -> list[int]:
    """Numbers of this page that belong to runs of consecutive line numbers (leading or trailing)."""
    found: list[int] = []
    for pattern in (_TRAILING_NUMBER, _LEADING_NUMBER):
        cands = [int(m.group("n")) for ln in lines if (m := pattern.match(ln))]
        run: list[int] = []
        for n in cands:
            if run and n == run[-1] + 1:
                run.append(n)
            else:
                if len(run) >= _MIN_RUN:
                    found.extend(run)
                run = [n]
        if len(run) >= _MIN_RUN:
            found.extend(run)
    return found


def strip_line_numbers_document(pages: Sequence[str]) -> list[str]:
    """Remove the line numbers that FDA draft guidances print on every line.

    A document counts as line-numbered when runs of consecutive numbers are found on at least two
    pages. Then every leading, trailing or bare number on a page that falls within that page's
    line-number range (widened a little, since pypdf sometimes scrambles their order) is removed.
    """
    split = [p.split("\n") for p in pages]
    runs = [_run_numbers(lines) for lines in split]
    if sum(1 for r in runs if r) < min(2, len(pages)):
        return list(pages)
    out: list[str] = []
    prev_hi = 0
    for lines, run in zip(split, runs, strict=True):
        lo, hi = (min(run), max(run)) if run else (prev_hi + 1, prev_hi + 60)
        lo, hi = lo - 40, hi + 40
        prev_hi = hi - 40
        kept: list[str] = []
        for line in lines:
            m = _LEADING_NUMBER.match(line)
            if m and lo <= int(m.group("n")) <= hi:
                body = (m.group("body") or "").rstrip()
                if not body:
                    continue
                line = body
            m = _TRAILING_NUMBER.match(line)
            if m and lo <= int(m.group("n")) <= hi and m.group("body").strip():
                line = m.group("body").rstrip()
            kept.append(line)
        out.append("\n".join(kept))
    return out


def line_number_spans(page: str) -> list[tuple[int, int]]:
    """The character spans of one page's printed line numbers (a run of consecutive leading or trailing
    numbers, and any number within its range at a line's start or end), for reading a PDF text layer that
    still has them against the cleaned text."""
    lines = re.split(r"(?<=\n)", page)
    run = _run_numbers([ln.rstrip("\r\n") for ln in lines])
    if not run:
        return []
    lo, hi = min(run) - 40, max(run) + 40
    spans: list[tuple[int, int]] = []
    at = 0
    for line in lines:
        bare = line.rstrip("\r\n")
        for m in (_LEADING_NUMBER.match(bare), _TRAILING_NUMBER.match(bare)):
            if m and lo <= int(m.group("n")) <= hi:
                spans.append((at + m.start("n"), at + m.end("n")))
        at += len(line)
    return spans


def _norm_furniture(line: str) -> str:
    return re.sub(r"\d+", "#", re.sub(r"\s+", " ", line.strip().lower()))


def remove_running_furniture(pages: Sequence[str], edge: int = 4) -> list[str]:
    """Drop headers and footers: lines near a page edge that repeat on most pages, and bare page numbers."""
    if len(pages) < 3:
        return [_drop_bare_page_numbers(p) for p in pages]
    counts: Counter[str] = Counter()
    for page in pages:
        lines = [ln for ln in page.split("\n") if ln.strip()]
        seen = {_norm_furniture(ln) for ln in lines[:edge] + lines[-edge:]}
        counts.update(seen)
    threshold = max(3, int(0.5 * len(pages)))
    furniture = {k for k, c in counts.items() if c >= threshold and k}
    out: list[str] = []
    for page in pages:
        lines = page.split("\n")
        nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
        edges = set(nonblank[:edge] + nonblank[-edge:])
        kept = [ln for i, ln in enumerate(lines) if not (i in edges and _is_furniture(ln, furniture))]
        out.append(_drop_bare_page_numbers("\n".join(kept)))
    return out


def _is_furniture(line: str, furniture: set[str]) -> bool:
    # A table row is never furniture: a table's header row repeats on each page it runs over, and is
    # what tells a reader which column is which.
    if TABLE_ROW.match(line):
        return False
    # Landscape pages sometimes join two header lines: "Contains Nonbinding Recommendations; Draft — ...".
    norm = _norm_furniture(line)
    return norm in furniture or all(p in furniture for p in re.split(r"\s*[;|]\s*", norm) if p)


# One row of a table as ingest writes Word and ruled PDF tables: `| a | b |`, a line of its own.
TABLE_ROW = re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.MULTILINE)
_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?\s*$", re.IGNORECASE)


def _drop_bare_page_numbers(page: str) -> str:
    lines = page.split("\n")
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    edges = set(nonblank[:2] + nonblank[-2:])
    return "\n".join(ln for i, ln in enumerate(lines) if not (i in edges and _PAGE_NUMBER.match(ln)))


_HYPHEN_BREAK = re.compile(r"([a-z])-[ \t]*\n[ \t]*([a-z])")


def dehyphenate(text: str) -> str:
    """Join words split across line ends ("recom-\\nmended" becomes "recommended")."""
    return _HYPHEN_BREAK.sub(r"\1\2", text)


def tidy_whitespace(text: str) -> str:
    """Trim line ends and collapse runs of blank lines to one."""
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln if ln.strip() else "" for ln in lines]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


# Web boilerplate. A line that opens one of these blocks ends the article: everything after a
# cookie notice, a copyright line or a "contact us" block on a saved web page is site furniture.
_BLOCK_STARTS = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^this website uses cookies",
        r"^we use cookies",
        r"^cookie (policy|settings|preferences)",
        r"^copyright\s*(©|\(c\))",
        r"^©\s*\d{4}",
        r"^for further information\s*$",
        r"^related (news|articles|posts)",
        r"^share\s*$",
        r"^ready to test your knowledge",
    )
]
# Single lines that are furniture wherever they stand.
_LINE_NOISE = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bcookies?\b.*\b(consent|policy|settings|browser)\b",
        r"^(filter by category|schedule a (free )?meeting|subscribe|sign up|log ?in|menu|search)\b.{0,40}$",
        r"\bfree webinar\b",
        r"^explore innovative, purpose-built ai solutions",
        r"\bwebinar\b.*\b(find out|register|join)\b",
        r"^in this webinar\b",
        r"^(contents|in brief|in more detail)\s*$",
        r"^for more information, please click",
        r"please contact (us|our team)",
        r"\bcontact us at\b",
        r"^read the (whole|full) (document|article|report) here",
        r"all rights reserved",
        r"\bdisclaim(er|s)?\b.*\bliabilit",
    )
]


def strip_web_boilerplate(text: str) -> str:
    """Cut cookie notices, navigation, contact blocks and legal disclaimers from a saved web page."""
    lines = text.split("\n")
    out: list[str] = []
    for line in lines:
        stripped = line.strip().lstrip("•*-· ").strip()
        if any(p.search(stripped) for p in _BLOCK_STARTS):
            break
        if any(p.search(stripped) for p in _LINE_NOISE):
            continue
        out.append(line)
    return "\n".join(out)


_MARKER = re.compile(r"\[(\d{1,4}(?:\s*[,;–-]\s*\d{1,4})*)\]")
_FENCE_TAG = re.compile(r"</?\s*source\b[^>]*>", re.IGNORECASE)


def neutralise_markup(text: str) -> str:
    """A document's own text never speaks the answer's language: "[9]" is how an answer cites its sources,
    so a document's bracketed numbers become "(9)" and never turn into citations (or point at a real
    reference 9 in an export); source-fence tags and the model's decline token are removed."""
    text = _MARKER.sub(r"(\1)", text)
    return _FENCE_TAG.sub("", text).replace("NOT_IN_SOURCES", "")


def compatibility_characters(text: str) -> str:
    """NFKC: ligatures and compatibility characters as a reader types them ("ﬁ" → "fi", no-break space → space)."""
    return unicodedata.normalize("NFKC", text)


# A word, one space, and (not consumed, so that it can start the next pair) the lower-case word after it.
_SPLIT_PAIR = re.compile(r"\b([A-Za-z]+) (?=([a-z]+)\b)")
_WORD = re.compile(r"[A-Za-z]+")
# A word is common enough that a pair of them is likely a real phrase ("a part", "in formation").
_COMMON_ZIPF = 4.5
_FUNCTION_ZIPF = 6.0  # "a", "in", "to", "the": a pair with one of these and a real word is a phrase
_REAL_ZIPF = 3.0
_RARE_ZIPF = 2.0  # below this a fragment is not an English word ("evalua", "lating")
_WORD_ZIPF = 2.5  # at least this for the joined form to be an English word


def vocabulary(pages: Sequence[str]) -> Counter[str]:
    """How often each word stands whole in a document (lower case)."""
    return Counter(w.lower() for p in pages for w in _WORD.findall(p))


def join_split_words(text: str, words: Counter[str]) -> str:
    """Join the words pypdf splits inside ("evalua ted", "certi fying"), only where the join is certain.

    A pair is joined when the joined form is an English word (wordfreq) and one part is a fragment, or when
    the joined form also stands whole in the same document; pairs of common words and pairs of a function
    word and a real word ("a part", "in formation") are left alone.
    """
    from wordfreq import zipf_frequency

    def join(m: re.Match[str]) -> str:
        a, b = m.group(1), m.group(2)
        joined = (a + b).lower()
        za, zb, zj = zipf_frequency(a, "en"), zipf_frequency(b, "en"), zipf_frequency(joined, "en")
        if min(za, zb) >= _COMMON_ZIPF or zj < _WORD_ZIPF or len(joined) < 5:
            return m.group(0)
        if max(za, zb) >= _FUNCTION_ZIPF and min(za, zb) >= _REAL_ZIPF:
            return m.group(0)  # a function word and a real word: "in formation", "a part", "in tent"
        if min(za, zb) < _RARE_ZIPF or words.get(joined, 0) > 0:
            return a
        return m.group(0)

    return _SPLIT_PAIR.sub(join, text)


def clean_pdf_pages(pages: Sequence[str]) -> list[str]:
    """Clean the pages of a PDF as a whole: furniture and split words need to see every page."""
    numbered = strip_line_numbers_document([compatibility_characters(p) for p in pages])
    unfurnished = remove_running_furniture([tidy_whitespace(p) for p in numbered])
    cleaned = [tidy_whitespace(dehyphenate(p)) for p in unfurnished]
    words = vocabulary(cleaned)
    return [neutralise_markup(join_split_words(p, words)) for p in cleaned]


def clean_web_text(text: str) -> str:
    """Clean a web page or text document saved as text."""
    text = compatibility_characters(text)
    return neutralise_markup(tidy_whitespace(dehyphenate(strip_web_boilerplate(tidy_whitespace(text)))))
