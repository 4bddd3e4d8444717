"""Verification after generation: every claim is checked against the passages it cites.

A claim is supported only if
- it cites at least one retrieved source (citations to anything else are dropped, never shown);
- every hard fact in it (number, date, percentage, section or article reference, acronym) appears in
  a cited passage: a changed number is the commonest invention and the cheapest to catch;
- its negation agrees with the best-matching passage sentence ("should" vs "should not");
- its support score (lexical recall of its content words and embedding similarity with the
  best-matching sentence, averaged) clears `threshold`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.sentences import normalise, sentence_spans
from assistant.types import Evidence, Quote
from ingest.lexical import tokenize

Encode = Callable[[list[str]], np.ndarray]

_NUMBER = re.compile(r"(?<![A-Za-z\d])(?<!\d\.)\d+(?:[.,]\d+)*(?!\d|st\b|nd\b|rd\b|th\b)(?:\([a-z0-9]{1,4}\))?%?")
# Ordinals are facts of their own: "the third copy" is not "three copies".
_ORDINAL = re.compile(r"(?<![A-Za-z\d])\d+(?:st|nd|rd|th)\b")
_ACRONYM = re.compile(r"\b(?:[A-Z][a-z]?){1,}[A-Z]+[a-z]?\b|\b[A-Z]{2,}s?\b")
_NEGATION = re.compile(r"\b(?:not|no|never|cannot|neither|nor|without|none|n't)\b", re.IGNORECASE)
# An amount of a unit: two sources giving different amounts of the same unit for one thing disagree.
UNIT_NUMBER = re.compile(r"\b(\d+(?:\.\d+)?)\s*(days?|months?|years?|hours?|weeks?|%|percent)\b", re.IGNORECASE)
_CITATION_MARK = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKS = re.compile(r"^(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+\s*")
# The citation markers that follow a sentence, possibly none: "[1]", " [2][3]", " [1, 4]".
MARKER_RUN = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*")


MIN_ATTRIBUTED_WORDS = 4


@dataclass(frozen=True)
class Support:
    """The verdict on one claim, with the quote that supports it best."""

    text: str
    cited: tuple[int, ...]
    dropped: tuple[int, ...]
    supported: bool
    score: float
    reason: str | None
    quotes: tuple[Quote, ...]


def split_claims(answer: str) -> list[tuple[str, tuple[int, ...]]]:
    """Split generated text into sentences with the [n] markers that follow each."""
    text = normalise(answer)
    if not text:
        return []
    pieces: list[tuple[str, tuple[int, ...]]] = []
    for s, e in sentence_spans(text):
        sent = text[s:e]
        # "First claim. [1] Second claim. [2]": markers after the full stop belong to the sentence before.
        lead = _LEADING_MARKS.match(sent)
        if lead and pieces:
            spilled = tuple(int(n) for n in re.findall(r"\d+", lead.group(0)))
            t, c = pieces[-1]
            pieces[-1] = (t, tuple(dict.fromkeys(c + spilled)))
            sent = sent[lead.end() :]
        nums = tuple(int(n) for m in _CITATION_MARK.finditer(sent) for n in re.split(r"\s*[,;]\s*", m.group(1)))
        clean = _CITATION_MARK.sub("", sent).strip()
        if not clean or re.fullmatch(r"[\W\d]*", clean):
            if pieces and nums:  # markers that spilled past the full stop belong to the sentence before
                t, c = pieces[-1]
                pieces[-1] = (t, tuple(dict.fromkeys(c + nums)))
            continue
        pieces.append((clean, tuple(dict.fromkeys(nums))))
    return pieces


_UNITS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS_WORDS = (
    "twenty",
    "thirty",
    "forty",
    "fifty",
    "sixty",
    "seventy",
    "eighty",
    "ninety",
)
_TENS = {w: 10 * (i + 2) for i, w in enumerate(_TENS_WORDS)}
_ORDINALS = (
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
)
_CARDINAL = {w: i for i, w in enumerate(_UNITS)} | _TENS | {"hundred": 100, "thousand": 1000}
_CARDINAL |= {"twice": 2, "thrice": 3, "dozen": 12}
_ORDINAL_WORDS = {w: i for i, w in enumerate(_ORDINALS)} | {w[:-1] + "ieth": n for w, n in _TENS.items()}
_ORDINAL_WORDS |= {"hundredth": 100, "thousandth": 1000}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Words that are numbers in some sentences and not in others ("one should", "a second opinion", "first,").
# A claim is not required to carry them, but a source's "one year" still supports a claim's "1 year".
_AMBIGUOUS = frozenset({"one", "first", "second", "zero", "zeroth"})
_NUMBER_WORD = re.compile(
    r"\b(?:("
    + "|".join(_TENS)
    + r")[- ]("
    + "|".join(_UNITS[1:10] + _ORDINALS[1:10])
    + r")|("
    + "|".join(sorted(_CARDINAL | _ORDINAL_WORDS, key=len, reverse=True))
    + r"))\b",
    re.IGNORECASE,
)


_NUMBER_WORDS = frozenset(_CARDINAL) | frozenset(_ORDINAL_WORDS)
_LOWER_WORD = re.compile(r"[a-z]+")


def spell_out_numbers(text: str, keep_ambiguous: bool = True) -> str:
    """Number words as digits ("ten years" → "10 years", "twenty-five" → "25", "third" → "3rd", "twice" → "2"),
    so that a number is the same fact however it is written."""

    def digits(m: re.Match[str]) -> str:
        if m.group(1):
            tens, unit = _CARDINAL[m.group(1).lower()], m.group(2).lower()
            return str(tens + _CARDINAL[unit]) if unit in _CARDINAL else _ordinal(tens + _ORDINAL_WORDS[unit])
        word = m.group(3).lower()
        if word in _AMBIGUOUS and not keep_ambiguous:
            return m.group(0)
        return str(_CARDINAL[word]) if word in _CARDINAL else _ordinal(_ORDINAL_WORDS[word])

    # Most sentences hold no number word: one scan for words first, the many-alternative pattern only if needed.
    if _NUMBER_WORDS.isdisjoint(_LOWER_WORD.findall(text.lower())):
        return text
    return _NUMBER_WORD.sub(digits, text)


def hard_facts(text: str) -> list[str]:
    """Numbers (in digits or in words), dates, references and acronyms that a supporting passage must contain."""
    spelled = spell_out_numbers(text, keep_ambiguous=False)
    nums = [n.rstrip(".,") for n in _NUMBER.findall(spelled)] + _ORDINAL.findall(spelled)
    acronyms = [a for a in _ACRONYM.findall(text) if a.upper() not in {"I", "A"}]
    return list(dict.fromkeys(nums + acronyms))


def negated(text: str) -> bool:
    """Whether a sentence is negated ("not", "never", "without", …)."""
    return bool(_NEGATION.search(text))


def _fact_in(fact: str, haystack: str) -> bool:
    if fact[0].isdigit():
        # Same boundary as extraction: "15" is in "B.15" (a section label) but not in "3.15" or "115".
        # A cardinal is not in an ordinal: "3" is not in "3rd".
        tail = r"(?!\d)" if fact[-1].isalpha() else r"(?!\d|st\b|nd\b|rd\b|th\b)"
        return re.search(rf"(?<!\d)(?<!\d\.){re.escape(fact)}{tail}", haystack) is not None
    return re.search(rf"\b{re.escape(fact.rstrip('s'))}", haystack) is not None


@dataclass
class Verifier:
    """Checks claims against their cited evidence; `encode` embeds text (unit vectors)."""

    encode: Encode
    threshold: float = 0.6
    lexical_weight: float = 0.5
    # A sentence without a usable marker keeps the citation it is attributed to only from this support score.
    attribution_threshold: float = 0.75

    def verify(self, claims: Sequence[tuple[str, tuple[int, ...]]], sources: dict[int, Evidence]) -> list[Support]:
        """A verdict per claim, in order."""
        candidates: list[tuple[int, list[Quote]]] = []
        to_embed: list[str] = []
        verdicts: list[Support | None] = []
        for text, cited in claims:
            valid = tuple(n for n in cited if n in sources)
            dropped = tuple(n for n in cited if n not in sources)
            if not valid:
                verdicts.append(Support(text, (), dropped, False, 0.0, "cites no retrieved source", ()))
                continue
            evidence_text = normalise(" ".join(sources[n].text for n in valid))
            numeric = spell_out_numbers(evidence_text)
            missing = [f for f in hard_facts(text) if not (_fact_in(f, evidence_text) or _fact_in(f, numeric))]
            spans = self._best_spans(text, valid, sources)
            if missing:
                verdicts.append(
                    Support(
                        text,
                        valid,
                        dropped,
                        False,
                        spans[0][4] if spans else 0.0,
                        f"not in the cited source: {', '.join(missing)}",
                        tuple(spans[:1]),
                    )
                )
                continue
            # A claim quoted word for word from a cited sentence (and agreeing with it on negation) needs
            # no embedding to be judged: it is supported, with score 1.
            claim_norm = normalise(text).lower()
            exact = [
                sp
                for sp in spans
                if claim_norm in (sent := normalise(sp[1].text[sp[2] : sp[3]]).lower())
                and bool(_NEGATION.search(claim_norm)) == bool(_NEGATION.search(sent))
            ]
            if exact:
                top = exact[0]._replace(score=1.0)
                by_source: dict[int, Quote] = {top[0]: top}
                for sp in spans:
                    by_source.setdefault(sp[0], sp)
                verdicts.append(Support(text, valid, dropped, True, 1.0, None, tuple(by_source.values())))
                continue
            verdicts.append(None)
            candidates.append((len(verdicts) - 1, spans))
            to_embed.append(text)
            to_embed.extend(normalise(c.text[s:e]) for _, c, s, e, _ in spans)
        vecs = self.encode(to_embed) if to_embed else np.zeros((0, 1), dtype=np.float32)
        pos = 0
        for idx, spans in candidates:
            text, cited = claims[idx]
            cvec = vecs[pos]
            pos += 1
            scored: list[Quote] = []
            for n, chunk, s, e, lex in spans:
                emb = float(np.dot(cvec, vecs[pos]))
                pos += 1
                is_exact = normalise(text).lower() in normalise(chunk.text[s:e]).lower()
                score = 1.0 if is_exact else self.lexical_weight * lex + (1 - self.lexical_weight) * max(0.0, emb)
                scored.append(Quote(n, chunk, s, e, score))
            scored.sort(key=lambda t: -t[4])
            valid = tuple(n for n in cited if n in sources)
            dropped = tuple(n for n in cited if n not in sources)
            best = scored[0] if scored else None
            if best is None:
                verdicts[idx] = Support(text, valid, dropped, False, 0.0, "no sentence in the cited source", ())
                continue
            quote = best[1].text[best[2] : best[3]]
            if bool(_NEGATION.search(text)) != bool(_NEGATION.search(quote)):
                verdicts[idx] = Support(
                    text, valid, dropped, False, best[4], "negation differs from the source", (best,)
                )
                continue
            ok = best[4] >= self.threshold
            # Keep one quote per cited source: the best sentence of each.
            per_source: dict[int, Quote] = {}
            for q in scored:
                per_source.setdefault(q[0], q)
            verdicts[idx] = Support(
                text,
                valid,
                dropped,
                ok,
                best[4],
                None if ok else f"support {best[4]:.2f} below {self.threshold}",
                tuple(per_source.values()),
            )
        return [v for v in verdicts if v is not None]

    def verify_attributing(
        self, claims: Sequence[tuple[str, tuple[int, ...]]], sources: dict[int, Evidence]
    ) -> tuple[list[Support], int]:
        """Verify claims; a claim with no valid marker is first attributed, then verified like any other.

        Small local models often write sentences without a usable [n]. Such a sentence is matched against
        every retrieved source with the same support measure `verify` applies; the source of its best
        sentence becomes its citation, and the claim is verified again against that source alone. It keeps
        the citation only if that passes; otherwise it is unsupported, as a claim citing nothing always is.
        Returns the verdicts and how many claims were attributed.
        """
        verdicts = self.verify(claims, sources)
        # Only a sentence that states something (four content words or more) is attributed: a bare word
        # ("HACKED", obeying a poisoned source) matches its source perfectly and says nothing.
        unmarked = [
            i
            for i, (text, cited) in enumerate(claims)
            if not any(n in sources for n in cited) and len(tokenize(text)) >= MIN_ATTRIBUTED_WORDS
        ]
        if not unmarked or not sources:
            return verdicts, 0
        everything = tuple(sources)
        trial = self.verify([(claims[i][0], everything) for i in unmarked], sources)
        picked = [(i, v.quotes[0][0]) for i, v in zip(unmarked, trial, strict=True) if v.supported and v.quotes]
        if not picked:
            return verdicts, 0
        again = self.verify([(claims[i][0], (n,)) for i, n in picked], sources)
        attributed = 0
        for (i, _), v in zip(picked, again, strict=True):
            # The model named no source, so the bar is higher than for a sentence that cites one.
            if v.supported and v.score >= self.attribution_threshold:
                verdicts[i] = v
                attributed += 1
        return verdicts, attributed

    @staticmethod
    def _best_spans(
        text: str, cited: tuple[int, ...], sources: dict[int, Evidence], per_source: int = 3
    ) -> list[Quote]:
        """The sentences of the cited chunks with the best lexical recall of the claim's content words."""
        words = set(tokenize(text))
        out: list[Quote] = []
        for n in cited:
            ranked: list[Quote] = []
            for chunk in sources[n].chunks:
                for s, e in sentence_spans(chunk.text):
                    sw = set(tokenize(chunk.text[s:e]))
                    lex = len(words & sw) / len(words) if words else 0.0
                    ranked.append(Quote(n, chunk, s, e, lex))
            ranked.sort(key=lambda t: -t[4])
            out.extend(ranked[:per_source])
        out.sort(key=lambda t: -t[4])
        return out
