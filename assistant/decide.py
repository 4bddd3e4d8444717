"""Whether to answer: one calibrated decision over measured features, instead of a row of hand-set rules.

A regulatory reader is better served by "the documents do not answer this" than by a well-cited
sentence that answers a different question. The hard cases are near misses: a question about a
guideline the corpus only cites by title, a period the documents never give, a regulator whose
documents are not in the library. No single score separates them, so the decision is a logistic
model over features that each measure one way an answer can miss:

| feature | what it measures |
|---|---|
| `dense_best` | cosine similarity of the closest retrieved passage to the question |
| `dense_margin` | how far the closest passage stands above the next |
| `pick_score` | the best sentence's score (embedding and rare-word overlap with the question) |
| `answer_coverage` | share of the question's content (IDF-weighted) that the answer's sentences contain |
| `top_coverage` | the same share for the best sentence alone |
| `evidence_coverage` | the same share over all retrieved passages |
| `rare_missing` | the rarest question word the evidence lacks (IDF over the largest IDF): a named thing absent |
| `rare_unanswered` | the rarest question word the answer's sentences lack (IDF over the largest IDF) |
| `quantity_missing` | the question asks how long, how many or how much, and the answer gives no number or period |
| `body_missing` | the question names a regulator and no retrieved passage comes from or mentions it |
| `only_in_references` | the question's rarest word appears in the evidence only in reference lists and footnotes |

Regulatory reason: EMA's reflection paper and technical expectations ask that an AI system's
operating threshold be fixed in advance, on data apart from the test set, and reported with the full
confusion matrix. The weights and threshold come from `evals/fit_abstention.py` on the tuning sets
(the old dev and test parts and dev2), are stored in `abstention.json` with the sets' hashes, and
are not changed after the test part is run.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from assistant.labels import label_sentences
from assistant.types import Evidence
from ingest.lexical import tokenize

MODEL_FILE = Path(__file__).resolve().parent / "abstention.json"
FEATURES: tuple[str, ...] = (
    "dense_best",
    "dense_margin",
    "pick_score",
    "answer_coverage",
    "top_coverage",
    "evidence_coverage",
    "rare_missing",
    "rare_unanswered",
    "quantity_missing",
    "body_missing",
    "only_in_references",
)

# Questions that ask for a quantity or period: an answer without any number does not answer them. "How much
# testing" asks for an extent ("commensurate with the risk"), not a number.
ASKS_QUANTITY = re.compile(
    r"\b(how (long|many|soon|often)|how much(?! (?:testing|validation|documentation|evidence|rigou?r|detail|effort"
    r"|assurance|oversight|scrutiny|review|verification)\b)"
    r"|what (fee|fees|cost|price|percentage|proportion|sample size|deadline)"
    r"|(maximum|minimum|max|min)\b[^?]*\b(dose|amount|number|size|period|value)|\bdose of\b)",
    re.IGNORECASE,
)
# A period or amount in words counts: "at least twice a year", "two years", "annually", "throughout the
# retention period". A digit glued to a word or full stop is a footnote mark ("records.6"), and a section
# reference ("§ 11.10(e)", "21 CFR 211.180") is not an amount: both are removed before looking.
_QUANTITY = re.compile(
    r"(?<![A-Za-z.\d])\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|sixty|ninety"
    r"|hundred|annual(ly)?|yearly|monthly|weekly|daily|once|twice|periodic(ally)?|immediately|promptly"
    r"|regularly|lifetime|duration|throughout|retention period|required period|period of)\b",
    re.IGNORECASE,
)
_REFERENCE = re.compile(
    r"§+\s*[\d.]+(?:\s*\([a-z0-9]+\))*|\b(?:CFR|section|sections|part|annex|chapter)\s+[\dA-Z.]+(?:\([a-z0-9]+\))*",
    re.IGNORECASE,
)


_NUMBER_WORDS = (
    r"(?:\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|sixty"
    r"|ninety|hundred)"
)
# What "how long" is answered by: an amount of time, or a period named in words.
_DURATION = re.compile(
    rf"\b{_NUMBER_WORDS}[\s-]*(?:calendar |working |business )?(?:days?|weeks?|months?|years?|hours?|minutes?)\b"
    r"|\b(?:throughout|lifetime|duration|until|as long as|retention period|required period|period of|for the life)\b",
    re.IGNORECASE,
)
# What "how often" is answered by.
_FREQUENCY = re.compile(
    r"\b(?:annual(?:ly)?|yearly|monthly|weekly|daily|once|twice|periodic(?:ally)?|regularly|every|each time"
    r"|frequency|intervals?|times a)\b",
    re.IGNORECASE,
)
_ASKS_DURATION = re.compile(r"\bhow (?:long|soon)\b|\b(?:what|which) (?:period|deadline|timeframe|time frame)\b", re.I)
_ASKS_FREQUENCY = re.compile(r"\bhow (?:often|frequently)\b|\bwhat frequency\b", re.IGNORECASE)


def gives_quantity(sentence: str, question: str = "") -> bool:
    """Whether a sentence states what the question asks for: a period for "how long", a frequency for "how
    often", otherwise any amount (numbers in digits or words)."""
    text = _REFERENCE.sub(" ", sentence)
    if _ASKS_DURATION.search(question):
        return bool(_DURATION.search(text))
    if _ASKS_FREQUENCY.search(question):
        return bool(_FREQUENCY.search(text) or _DURATION.search(text))
    return bool(_QUANTITY.search(text))


# Issuing bodies a question may name; an answer drawn only from other bodies' documents does not answer it.
BODIES = ("EMA", "FDA", "MHRA", "ICH", "HMA", "European Commission", "EU GMP", "CDER", "CBER", "Health Canada", "PMDA")


# A document's identifier in a question: "ICH Q12", "E6(R3)", "Part 11", "Annex 15", "USP <797>", "503A".
_IDENTIFIER = re.compile(r"\b(?:[A-Z]{1,3}\d{1,3}(?:\([A-Z]\d\))?|(?:Part|Annex)\s+\d+|USP\s*<\d+>|\d{3}[AB])(?![\w<])")
# A guideline named by its title and date inside a sentence: "… ICH guidance for industry Q12 … (May 2021)".
_TITLE_CITATION = re.compile(
    r"\b(?:guidance|guideline|guidelines|draft guidance)\b(?:(?!\.\s)[\s\S]){0,200}?"
    r"\((?:January|February|March|April|May|June|July|August|September|October|November|December)?\s*\d{4}\)",
    re.IGNORECASE,
)


def cited_only(question: str, evidence: Sequence[Evidence]) -> str | None:
    """A document the question names that the evidence only cites (in references, footnotes or by title), or None.

    Regulatory reason: a guidance that cites another guideline by its title does not state what that
    guideline requires; answering from the citation would present a title as its content.
    """
    for ident in dict.fromkeys(m.group(0) for m in _IDENTIFIER.finditer(question)):
        pattern = re.compile(rf"\b{re.escape(ident)}(?![\w<])")
        found = substantive = False
        for e in evidence:
            for c in e.chunks:
                if pattern.search(c.title):
                    return None
                for s in label_sentences(c.text):
                    text = c.text[s.start : s.end]
                    if not pattern.search(text):
                        continue
                    found = True
                    cited = s.label in ("reference", "footnote", "toc") or any(
                        pattern.search(m.group(0)) for m in _TITLE_CITATION.finditer(text)
                    )
                    substantive = substantive or not cited
        if found and not substantive:
            return ident
    return None


def named_bodies(question: str) -> list[str]:
    """The regulators a question names."""
    return [b for b in BODIES if re.search(rf"\b{b}\b", question)]


def _weighted_share(terms: dict[str, float], words: set[str]) -> float:
    total = sum(terms.values()) or 1.0
    return sum(w for t, w in terms.items() if t in words) / total


def features(
    question: str,
    evidence: Sequence[Evidence],
    answer_sentences: Sequence[str],
    pick_score: float,
    idf: Callable[[str], float],
    max_idf: float,
) -> dict[str, float]:
    """The measured features of one answer, by name (see the module's table)."""
    terms = {t: idf(t) for t in dict.fromkeys(tokenize(question))}
    answer_words = {w for s in answer_sentences for w in tokenize(s)}
    evidence_words: set[str] = set()
    body_words: set[str] = set()
    for e in evidence:
        for c in e.chunks:
            for s in label_sentences(c.text):
                ws = set(tokenize(c.text[s.start : s.end]))
                evidence_words |= ws
                if s.label not in ("reference", "footnote", "toc", "cover"):
                    body_words |= ws
    dense = sorted((e.dense_score for e in evidence), reverse=True)
    missing = [w for t, w in terms.items() if t not in evidence_words]
    unanswered = [w for t, w in terms.items() if t not in answer_words]
    top_words = set(tokenize(answer_sentences[0])) if answer_sentences else set()
    rarest = max(terms, key=lambda t: terms[t]) if terms else ""
    bodies = named_bodies(question)
    sources = " ".join(
        f"{c.title} {c.meta.issuing_body} {re.sub(r'[_-]', ' ', c.file)} {c.text}" for e in evidence for c in e.chunks
    )
    return {
        "dense_best": dense[0] if dense else 0.0,
        "dense_margin": dense[0] - dense[1] if len(dense) > 1 else 0.0,
        "pick_score": pick_score,
        "answer_coverage": _weighted_share(terms, answer_words),
        "top_coverage": _weighted_share(terms, top_words),
        "evidence_coverage": _weighted_share(terms, evidence_words),
        "rare_missing": max(missing, default=0.0) / max(max_idf, 1e-9),
        "rare_unanswered": max(unanswered, default=0.0) / max(max_idf, 1e-9),
        "quantity_missing": float(
            bool(ASKS_QUANTITY.search(question)) and not any(gives_quantity(s, question) for s in answer_sentences)
        ),
        "body_missing": float(bool(bodies) and not any(re.search(rf"\b{b}\b", sources) for b in bodies)),
        "only_in_references": float(bool(rarest) and rarest in evidence_words and rarest not in body_words),
    }


@dataclass(frozen=True)
class AbstentionModel:
    """Standardised logistic regression: P(the documents do not answer) from the features."""

    weights: dict[str, float]
    bias: float
    mean: dict[str, float]
    scale: dict[str, float]
    threshold: float

    def probability(self, f: dict[str, float]) -> float:
        """The probability that the question is not answered by the documents."""
        z = self.bias + sum(self.weights[k] * (f[k] - self.mean[k]) / (self.scale[k] or 1.0) for k in self.weights)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def refuses(self, f: dict[str, float]) -> bool:
        """Whether to refuse."""
        return self.probability(f) >= self.threshold

    def strongest(self, f: dict[str, float]) -> str:
        """The feature that pushed hardest toward refusing (for the refusal's reason)."""
        return max(self.weights, key=lambda k: self.weights[k] * (f[k] - self.mean[k]) / (self.scale[k] or 1.0))


REASONS = {
    "dense_best": "the closest passage is only loosely related to the question",
    "dense_margin": "no passage stands out as addressing the question",
    "pick_score": "no retrieved sentence answers the question closely",
    "answer_coverage": "the best sentences leave much of the question unaddressed",
    "evidence_coverage": "the retrieved passages leave much of the question unaddressed",
    "top_coverage": "the best sentence leaves much of the question unaddressed",
    "rare_missing": "a term of the question appears in none of the retrieved passages",
    "rare_unanswered": "a specific term of the question appears in none of the answer's sentences",
    "quantity_missing": "the question asks for a quantity or period, and no sentence gives one",
    "body_missing": "the question names a regulator whose documents are not among the passages",
    "only_in_references": "the question's subject appears only in reference lists or footnotes",
}


def never(features: Sequence[str] = FEATURES) -> AbstentionModel:
    """A model that never refuses: what `evals.fit_abstention` answers with while it measures the features."""
    zero = dict.fromkeys(features, 0.0)
    return AbstentionModel(zero, -30.0, zero, dict.fromkeys(features, 1.0), 2.0)


@lru_cache(maxsize=4)
def load(path: Path = MODEL_FILE) -> AbstentionModel:
    """The fitted model shipped with the package."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return AbstentionModel(raw["weights"], raw["bias"], raw["mean"], raw["scale"], raw["threshold"])
