"""The default backend: an answer made of the retrieved sentences that best answer the question.

It needs no LLM and is deterministic. Each sentence is quoted verbatim from a retrieved chunk and
cited. Every claimable sentence of the evidence is a candidate (see `assistant.labels`), scored
against the question by embedding (the sentence-head cache makes that cheap) and by the question's
rare words, so a question in a person's own words still reaches the sentence that answers it.

Composition, in order:
- a definition question leads with the defining sentence ("X means", a glossary entry);
- a question of several parts gets the best sentence for each part;
- a list lead-in ("… the following:") brings its items;
- further sentences are added while they score close to the best, up to a length budget.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from assistant.decide import ASKS_QUANTITY, gives_quantity
from assistant.labels import CLAIMABLE, Label, label_sentences
from assistant.sentences import normalise
from assistant.types import Evidence
from assistant.verify import hard_facts
from ingest.lexical import tokenize
from ingest.types import Chunk

Encode = Callable[[list[str]], np.ndarray]
EMBED_WORDS = 40  # the head of a sentence carries its meaning; longer heads cost latency, not quality

# Weights of the sentence score. Fitted by hand on the old dev part and dev2 (tuning data), see README.
W_DENSE, W_LEXICAL, W_PRIOR = 0.55, 0.35, 0.10
DEFINITION_BONUS = 0.25
QUANTITY_BONUS = 0.10  # a "how long / how many" question prefers a sentence that gives a number or period
NEXT_RATIO = 0.88  # a further sentence must score at least this fraction of the best
BUDGET_CHARS = 600  # the answer's length budget, lists excepted (a lead-in's items may go to LIST_CHARS)
LIST_CHARS = 900
MAX_ITEMS = 12


@dataclass(frozen=True)
class Pick:
    """A chosen sentence: its source number, chunk, offsets, score and label."""

    n: int
    chunk: Chunk
    start: int
    end: int
    score: float
    lexical: float
    dense: float
    label: Label = "body"

    @property
    def text(self) -> str:
        """The sentence with whitespace normalised (the quote keeps the original)."""
        return normalise(self.chunk.text[self.start : self.end])


@dataclass(frozen=True)
class _Candidate:
    n: int
    chunk: Chunk
    start: int
    end: int
    label: Label
    position: int  # index among the chunk's sentences
    after_heading: str  # the heading just before it, lower case ("" if none): glossary terms


def _is_answer_like(sentence: str, label: Label) -> bool:
    words = sentence.split()
    if label == "list_item":
        return len(words) >= 2
    if len(words) < 6 or len(sentence) < 35:
        return False
    letters = sum(ch.isalpha() for ch in sentence)
    return letters / max(1, len(sentence)) > 0.5


def head(sentence: str) -> str:
    """What the picker embeds of a sentence: its first EMBED_WORDS words, whitespace normalised."""
    return " ".join(normalise(sentence).split()[:EMBED_WORDS])


def _candidates_of(n: int, chunk: Chunk) -> list[_Candidate]:
    out: list[_Candidate] = []
    heading = ""
    for i, s in enumerate(label_sentences(chunk.text)):
        text = normalise(chunk.text[s.start : s.end])
        if s.label == "heading":
            heading = text.lower().rstrip(" :")
            out.append(_Candidate(n, chunk, s.start, s.end, s.label, i, ""))
            continue
        out.append(_Candidate(n, chunk, s.start, s.end, s.label, i, heading))
        heading = ""
    return out


def candidate_heads(chunk_text: str) -> list[str]:
    """The heads of a chunk's claimable sentences: what `pick_sentences` may embed for it."""
    out = []
    for s in label_sentences(chunk_text):
        sent = normalise(chunk_text[s.start : s.end])
        if s.claimable and _is_answer_like(sent, s.label):
            out.append(head(sent))
    return out


# --- what the question asks ----------------------------------------------------------------------
_DEFINITION_Q = re.compile(
    r"\b(?:defin\w*|meaning of|what is meant by|what (?:does|do) .{2,60}? mean|(?:who|what) counts as"
    r"|what (?:is|are) (?:an? |the )?[\"'‘“][^\"'’”]+[\"'’”])",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"[\"'‘“]([^\"'’”]{2,60})[\"'’”]")
_TERM_PATTERNS = (
    re.compile(r"\bhow (?:is|are) (?:an? |the )?(?P<t>.{2,60}?) defined\b", re.IGNORECASE),
    re.compile(
        r"\bhow does .{2,80}? define (?:an? |the )?(?P<t>.{2,60}?)(?:\?|$| in | under | according)", re.IGNORECASE
    ),
    re.compile(r"\bdefinition of (?:an? |the )?(?P<t>.{2,60}?)(?:\?|$| in | under | according| per )", re.IGNORECASE),
    re.compile(
        r"\b(?:who|what) counts as (?:an? |the )?(?P<t>.{2,60}?)(?:\?|$| in | under | according| per )", re.IGNORECASE
    ),
    re.compile(r"\bwhat (?:is|are) (?:an? |the )?(?P<t>.{2,60}?)(?: according to| under| in| per|\?|$)", re.IGNORECASE),
    re.compile(r"\bwhat does (?:an? |the )?(?P<t>.{2,60}?) mean\b", re.IGNORECASE),
)
_WH = r"(?:what|who|which|when|where|why|how|whether|can|could|do|does|did|is|are|should|must|may|will)"
_PART_SPLIT = re.compile(rf"\?\s+|\s*(?:;|—|–|, and|,| and| or)\s+(?={_WH}\b)", re.IGNORECASE)


def definition_term(question: str) -> str | None:
    """The term a definition question asks about ("risk" for "How is 'risk' defined in ICH Q9?"), or None."""
    if not _DEFINITION_Q.search(question):
        return None
    quoted = _QUOTED.search(question)
    if quoted:
        return quoted.group(1).strip().lower()
    for pattern in _TERM_PATTERNS:
        m = pattern.search(question)
        if m:
            term = re.sub(r"^(?:an?|the)\s+", "", m.group("t").strip(" ?'\"").lower())
            if 1 <= len(term.split()) <= 6:
                return term
    return None


def question_parts(question: str) -> list[str]:
    """The parts of a question that asks several things ("what must X contain, and who approves it?")."""
    parts = [p.strip(" ,;?") for p in _PART_SPLIT.split(question)]
    parts = [p for p in parts if len(p.split()) >= 3]
    return parts[:3] if len(parts) > 1 else [question]


def _defines(sentence: str, term: str, after_heading: str) -> bool:
    """Whether a sentence defines `term`: "Risk: the combination …", "X means …", or a glossary entry."""
    s = sentence.lower()
    t = re.escape(term.rstrip("s"))
    if after_heading and re.fullmatch(rf"{t}s?(?: \([^)]*\))?", after_heading):
        return True
    if re.match(
        rf"^(?:an?\s+|the\s+)?[\"'‘“]?{t}s?[\"'’”]?(?:\s*\([^)]{{1,40}}\))?\s*(?::|–|-|—|means\b|is\b|are\b|refers?\b)",
        s,
    ):
        return True
    return bool(
        re.search(
            rf"[\"'‘“]?{t}s?[\"'’”]?(?:\s*\([^)]{{1,40}}\))?\s+(?:means|is defined as|are defined as|refers to)\b", s
        )
        or re.search(rf"\bdefined as (?:an? |the )?[\"'‘“]?{t}", s)
        or re.search(rf"\bconsiders? (?:an? |the )?{t}s? to be\b", s)
    )


def _spells(acronym: str, term: str) -> bool:
    """Whether an acronym's letters occur in order in the term, from its first letter ("BA", "bioavailability")."""
    a, t = acronym.lower(), term.lower()
    if not a or not t or a[0] != t[0]:
        return False
    pos = 0
    for ch in a:
        pos = t.find(ch, pos)
        if pos < 0:
            return False
        pos += 1
    return True


def aliases(term: str, texts: Sequence[str], question: str = "") -> list[str]:
    """The term and its acronyms: those the documents give it ("bioavailability (BA)") and those of the
    question that spell it ("BA studies" in a question about bioavailability)."""
    out = [term] + [a.lower() for a in re.findall(r"\b[A-Z]{2,6}\b", question) if _spells(a, term)]
    pattern = re.compile(rf"\b{re.escape(term)}\s*\(([A-Z][A-Za-z0-9]{{1,9}})\)", re.IGNORECASE)
    for text in texts:
        out.extend(m.group(1).lower() for m in pattern.finditer(text))
    return list(dict.fromkeys(out))


# --- the picker -----------------------------------------------------------------------------------
def pick_sentences(
    question: str,
    evidence: Sequence[Evidence],
    encode: Encode,
    idf: Callable[[str], float],
    max_sentences: int = 4,
    qvec: np.ndarray | None = None,
    encode_heads: Encode | None = None,
    budget: int = BUDGET_CHARS,
) -> list[Pick]:
    """Score every claimable sentence of the evidence against the question and compose the answer.

    `encode_heads`, when given, embeds sentence heads (a cache of them, see `assistant.heads`); the
    question is embedded with `encode` unless its vector `qvec` is given.
    """
    scored = score_candidates(question, evidence, encode, idf, qvec, encode_heads)
    if scored is None:
        return []
    cands, features, svecs, lexical, prior = scored
    dense, lex = features[:, 0], features[:, 1]
    w = weights()
    score = features @ w
    parts = question_parts(question)
    part_vecs = encode(parts) if len(parts) > 1 else None

    def pick(i: int, s: float) -> Pick:
        c = cands[i]
        return Pick(c.n, c.chunk, c.start, c.end, float(s), float(lex[i]), float(dense[i]), c.label)

    order = [int(i) for i in np.argsort(-score)]
    chosen: list[int] = []
    if part_vecs is not None:
        # Part by part, in the question's order, so the answer reads in the order it was asked.
        for pv, part in zip(part_vecs, parts, strict=True):
            part_score = w[0] * (svecs @ pv) + w[1] * lexical(part) + w[2] * prior
            best = int(np.argmax(part_score))
            if best not in chosen and part_score[best] >= 0.8 * float(np.max(score)):
                chosen.append(best)
    if order[0] not in chosen:
        chosen.append(order[0])
    best_score = float(score[order[0]])
    for i in order[1:]:
        if len(chosen) >= max_sentences or score[i] < NEXT_RATIO * best_score:
            break
        if i in chosen or _restates(cands[i], [cands[j] for j in chosen]):
            continue
        if sum(len(_text(cands[j])) for j in chosen) + len(_text(cands[i])) > budget:
            break
        chosen.append(i)
    picks: list[Pick] = []
    for i in chosen:
        picks.append(pick(i, score[i]))
        if cands[i].label == "lead_in":
            picks.extend(_items_after(cands[i], float(score[i])))
    return _dedupe(picks)


FEATURES = ("dense", "lexical", "prior", "gives_quantity", "defines", "lead_in", "list_item", "table_row")
HAND_WEIGHTS = (W_DENSE, W_LEXICAL, W_PRIOR, QUANTITY_BONUS, DEFINITION_BONUS, 0.0, 0.0, 0.0)
PICKER_FILE = Path(__file__).resolve().parent / "picker.json"


@lru_cache(maxsize=1)
def weights() -> np.ndarray:
    """The sentence score's weights: learned (`regassist eval fit-picker`, picker.json) where they beat the
    hand-set ones on dev2, else the hand-set ones."""
    if PICKER_FILE.exists():
        raw = json.loads(PICKER_FILE.read_text(encoding="utf-8"))
        if raw.get("use", False):
            return np.array([raw["weights"][k] for k in FEATURES])
    return np.array(HAND_WEIGHTS)


def _features(
    question: str,
    evidence: Sequence[Evidence],
    cands: Sequence[_Candidate],
    dense: np.ndarray,
    lex: np.ndarray,
    prior: np.ndarray,
) -> np.ndarray:
    """One row per candidate, one column per name in FEATURES."""
    n = len(cands)
    gives = np.zeros(n)
    if ASKS_QUANTITY.search(question):
        gives = np.array([gives_quantity(_text(c), question) for c in cands], dtype=float)
    defining = np.zeros(n)
    term = definition_term(question)
    if term:
        names = aliases(term, [e.text for e in evidence], question)
        defining = np.array([any(_defines(_text(c), t, c.after_heading) for t in names) for c in cands], dtype=float)
    labels = [np.array([c.label == k for c in cands], dtype=float) for k in ("lead_in", "list_item", "table_row")]
    return np.column_stack([dense, lex, prior, gives, defining, *labels])


def score_candidates(
    question: str,
    evidence: Sequence[Evidence],
    encode: Encode,
    idf: Callable[[str], float],
    qvec: np.ndarray | None = None,
    encode_heads: Encode | None = None,
) -> tuple[list[_Candidate], np.ndarray, np.ndarray, Callable[[str], np.ndarray], np.ndarray] | None:
    """The candidates, their feature rows, head vectors, a lexical scorer for any text, and the source prior."""
    cands = candidates(evidence)
    if not cands:
        return None
    texts = [head(_text(c)) for c in cands]
    q = qvec if qvec is not None else encode([question])[0]
    svecs = encode_heads(texts) if encode_heads is not None else encode(texts)
    words = [set(tokenize(_text(c))) for c in cands]

    def lexical(text: str) -> np.ndarray:
        terms = list(dict.fromkeys(tokenize(text)))
        weights = {t: idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        return np.array([sum(w for t, w in weights.items() if t in ws) / total for ws in words])

    prior = np.array([1.0 / math.sqrt(c.n) for c in cands])
    features = _features(question, evidence, cands, svecs @ q, lexical(question), prior)
    return cands, features, svecs, lexical, prior


def candidates(evidence: Sequence[Evidence]) -> list[_Candidate]:
    """The claimable, answer-like sentences of the evidence, in order."""
    every = [c for n, e in enumerate(evidence, start=1) for ch in e.chunks for c in _candidates_of(n, ch)]
    return [c for c in every if c.label in CLAIMABLE and _is_answer_like(_text(c), c.label)]


def _text(c: _Candidate) -> str:
    return normalise(c.chunk.text[c.start : c.end])


def _restates(c: _Candidate, chosen: list[_Candidate]) -> bool:
    """A restatement adds nothing, unless it gives other numbers or dates (sources that disagree)."""
    cw, cf = set(tokenize(_text(c))), set(hard_facts(_text(c)))
    return any(
        len(cw & set(tokenize(_text(o)))) / max(1, len(cw)) > 0.6 and cf == set(hard_facts(_text(o))) for o in chosen
    )


def _items_after(lead: _Candidate, score: float) -> list[Pick]:
    """The list items that follow a lead-in in its chunk, as many as fit LIST_CHARS."""
    out: list[Pick] = []
    length = len(_text(lead))
    for c in _candidates_of(lead.n, lead.chunk)[lead.position + 1 :]:
        if c.label != "list_item" or len(out) >= MAX_ITEMS:
            break
        length += len(_text(c))
        if length > LIST_CHARS and out:
            break
        out.append(Pick(c.n, c.chunk, c.start, c.end, score, 0.0, 0.0, c.label))
    return out


def _dedupe(picks: list[Pick]) -> list[Pick]:
    seen: set[tuple[str, int]] = set()
    out = []
    for p in picks:
        key = (p.chunk.chunk_id, p.start)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out
