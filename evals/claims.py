"""A labelled set of (claim, passage, supported?) pairs, and the validation of the hallucination check on it.

The pairs are built from the bundled corpus by rule, so every label is known by construction:

- supported: a sentence of the passage, as is, with an attribution prefix, or cut to its main clause;
- unsupported: the same sentence with a number or year changed, its negation flipped, the agency or the
  section reference swapped, or a sentence from another page of the same document or from another
  document (plausible, on topic, and absent from the passage).

`build_pairs` writes them once to evals/sets (committed, so the set is fixed); `validate` chooses the
support threshold on the dev part and reports the confusion matrix and MCC on the test part.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.sentences import normalise, sentence_spans
from assistant.types import Evidence
from assistant.verify import Verifier
from evals.metrics import Confusion, confusion
from evals.questions import SETS_DIR
from ingest.catalog import Catalog
from ingest.types import Chunk, DocumentMeta

PAIRS_DEV = SETS_DIR / "claim-pairs-dev.jsonl"
PAIRS_TEST = SETS_DIR / "claim-pairs-test.jsonl"
# Numbers written as words ("two years"), changed one word at a time or rewritten in digits. Reported on
# their own at the threshold chosen on dev, so adding them moved neither the threshold nor the test part.
PAIRS_NUMBER_WORDS = SETS_DIR / "claim-pairs-number-words.jsonl"
_NUMBER_WORDS = {
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
    "thirty": "30",
    "sixty": "60",
    "ninety": "90",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
    "twice": "2",
}
AGENCIES = ["FDA", "EMA", "MHRA", "ICH", "HMA", "CDER", "CBER"]
_MODAL = re.compile(r"\b(should|must|shall|will|can|may|is|are)\b( not\b)?")
_NUM = re.compile(r"(?<![\w.])(\d{1,4})(?![\w.])")
_SECTION = re.compile(r"\b(section|Section|§|Article|Annex|Chapter)\s+(\d+)")


@dataclass(frozen=True)
class Pair:
    """One labelled pair."""

    id: str
    claim: str
    passage: str
    supported: bool
    perturbation: str
    file: str


def _sentences(chunk: Chunk) -> list[str]:
    out = []
    for s, e in sentence_spans(chunk.text):
        t = normalise(chunk.text[s:e])
        letters = sum(ch.isalpha() for ch in t)
        if 60 <= len(t) <= 300 and letters / len(t) > 0.7 and not re.search(r"\.{4,}", t):
            out.append(t)
    return out


def _perturb(sentence: str, kind: str, rng: random.Random) -> str | None:
    if kind == "number":
        nums = [m for m in _NUM.finditer(sentence) if not 1900 <= int(m.group(1)) <= 2100]
        if not nums:
            return None
        m = rng.choice(nums)
        n = int(m.group(1))
        new = str(n * 2 if n < 10 else n + rng.choice([10, 30, 60]))
        return sentence[: m.start()] + new + sentence[m.end() :]
    if kind == "date":
        years = [m for m in _NUM.finditer(sentence) if 1900 <= int(m.group(1)) <= 2100]
        if not years:
            return None
        m = rng.choice(years)
        return sentence[: m.start()] + str(int(m.group(1)) + rng.choice([-3, -1, 2, 5])) + sentence[m.end() :]
    if kind == "negation":
        modal = _MODAL.search(sentence)
        if not modal:
            return None
        flipped = modal.group(1) if modal.group(2) else f"{modal.group(1)} not"
        return sentence[: modal.start()] + flipped + sentence[modal.end() :]
    if kind == "agency":
        present = [a for a in AGENCIES if re.search(rf"\b{a}\b", sentence)]
        if not present:
            return None
        a = rng.choice(present)
        b = rng.choice([x for x in AGENCIES if x != a])
        return re.sub(rf"\b{a}\b", b, sentence)
    if kind == "section":
        ref = _SECTION.search(sentence)
        if not ref:
            return None
        return sentence[: ref.start(2)] + str(int(ref.group(2)) + rng.choice([1, 2, 3])) + sentence[ref.end(2) :]
    raise ValueError(kind)


def _supported_variant(sentence: str, rng: random.Random) -> tuple[str, str]:
    how = rng.choice(["verbatim", "attributed", "main_clause"])
    if how == "attributed":
        return f"According to the guidance, {sentence[0].lower()}{sentence[1:]}", how
    if how == "main_clause":
        head = re.split(r"[;:]|, (?:and|or|but|which|including|such as) ", sentence)[0].rstrip(",. ")
        if len(head.split()) >= 6 and head != sentence.rstrip("."):
            return head + ".", how
        return sentence, "verbatim"
    return sentence, how


def build_pairs(catalog: Catalog, n_passages: int = 240, seed: int = 13) -> list[Pair]:
    """Two pairs per sampled passage (one supported, one not), deterministic for a given corpus and seed."""
    rng = random.Random(seed)
    chunks: list[Chunk] = []
    for row in sorted(catalog.documents(), key=lambda r: r["file"]):
        chunks += [c for c in catalog.chunks_of_document(row["document_id"]) if len(_sentences(c)) >= 2]
    by_doc: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_doc.setdefault(c.file, []).append(c)
    rng.shuffle(chunks)
    pairs: list[Pair] = []
    kinds = ["number", "negation", "agency", "same_document", "date", "other_document", "section"]
    for i, c in enumerate(chunks):
        if len(pairs) >= 2 * n_passages:
            break
        sentences = _sentences(c)
        # Cycle through the perturbations so each kind is represented; the first that applies is used,
        # and the sentence is chosen among those it applies to.
        target = kinds[i % len(kinds)]
        order = [target, *rng.sample([k for k in kinds if k != target], len(kinds) - 1)]
        bad: tuple[str, str] | None = None
        sent = rng.choice(sentences)
        for kind in order:
            if kind == "same_document":
                others = [o for o in by_doc[c.file] if o.chunk_id != c.chunk_id and o.page_start != c.page_start]
                cand = _sentences(rng.choice(others)) if others else []
                cand = [s for s in cand if s not in normalise(c.text)]
                if cand:
                    bad = (rng.choice(cand), kind)
            elif kind == "other_document":
                other = rng.choice([f for f in by_doc if f != c.file])
                cand = [s for s in _sentences(rng.choice(by_doc[other])) if s not in normalise(c.text)]
                if cand:
                    bad = (rng.choice(cand), kind)
            else:
                options = [(s, p) for s in sentences if (p := _perturb(s, kind, rng)) and p != s]
                if options:
                    sent, perturbed = rng.choice(options)
                    bad = (perturbed, kind)
            if bad:
                break
        claim, how = _supported_variant(sent, rng)
        if bad is None:
            continue
        base = hashlib.sha256(c.chunk_id.encode()).hexdigest()[:10]
        pairs.append(Pair(f"{base}-s", claim, c.text, True, how, c.file))
        pairs.append(Pair(f"{base}-u", bad[0], c.text, False, bad[1], c.file))
    return pairs


def build_number_word_pairs(catalog: Catalog, seed: int = 13) -> list[Pair]:
    """For every corpus sentence holding a number word: the sentence with that number in digits
    (supported) and with another number word in its place (unsupported)."""
    rng = random.Random(seed)
    words = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
    pairs: list[Pair] = []
    for row in sorted(catalog.documents(), key=lambda r: r["file"]):
        for c in catalog.chunks_of_document(row["document_id"]):
            for sent in _sentences(c):
                m = words.search(sent)
                if not m or sent.lower().startswith(m.group(1).lower()):
                    continue
                word = m.group(1).lower()
                ordinal = _NUMBER_WORDS[word][-1].isalpha()
                other = rng.choice(
                    [
                        w
                        for w, d in _NUMBER_WORDS.items()
                        if w != word and d[-1].isalpha() == ordinal and d != _NUMBER_WORDS[word]
                    ]
                )
                base = hashlib.sha256(f"{c.chunk_id}|{sent}".encode()).hexdigest()[:10]
                digits = sent[: m.start()] + _NUMBER_WORDS[word] + sent[m.end() :]
                changed = sent[: m.start()] + other + sent[m.end() :]
                pairs.append(Pair(f"{base}-d", digits, c.text, True, "number_in_digits", c.file))
                pairs.append(Pair(f"{base}-w", changed, c.text, False, "number_word_changed", c.file))
    return pairs


def split(pairs: Sequence[Pair]) -> tuple[list[Pair], list[Pair]]:
    """Dev and test by passage (both pairs of a passage stay together), half each, by hash."""
    dev = [p for p in pairs if int(p.id[:8], 16) % 2 == 0]
    test = [p for p in pairs if int(p.id[:8], 16) % 2 == 1]
    return dev, test


def write_pairs(pairs: Sequence[Pair], path: Path) -> None:
    path.write_text("".join(json.dumps(p.__dict__, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")


def load_pairs(path: Path) -> list[Pair]:
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(Pair(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not a claim pair ({exc})") from exc
    return out


def _evidence(p: Pair) -> Evidence:
    meta = DocumentMeta(title=p.file)
    chunk = Chunk(p.id, p.id, p.file, p.file, 0, "", (), 1, 1, 0, len(p.passage), p.passage, meta=meta)
    return Evidence((chunk,), 1.0, 1.0, 1.0)


def verdicts(verifier: Verifier, pairs: Sequence[Pair]) -> list[tuple[bool, float]]:
    """For each pair: whether the rule checks (facts, negation) pass, and the support score."""
    out = []
    for p in pairs:
        v = verifier.verify([(p.claim, (1,))], {1: _evidence(p)})[0]
        rules_ok = v.reason is None or v.reason.startswith("support ")
        out.append((rules_ok, v.score))
    return out


def _predict(vs: Sequence[tuple[bool, float]], t: float) -> list[bool]:
    """Predicted *unsupported* (the positive class of a hallucination detector)."""
    return [not (ok and score >= t) for ok, score in vs]


def validate(
    encode: Callable[[list[str]], np.ndarray],
    dev: Sequence[Pair],
    test: Sequence[Pair],
    number_words: Sequence[Pair] = (),
) -> dict[str, Any]:
    """Pick the threshold with the best MCC on dev; report dev and test confusion matrices at that threshold,
    and the number-word pairs at the same threshold."""
    verifier = Verifier(encode=encode, threshold=0.0)
    vdev, vtest = verdicts(verifier, dev), verdicts(verifier, test)
    truth_dev = [not p.supported for p in dev]
    grid = [round(0.30 + 0.01 * i, 2) for i in range(61)]
    best_t, best = grid[0], -2.0
    for t in grid:
        mcc = confusion(truth_dev, _predict(vdev, t)).mcc
        if mcc > best + 1e-9:
            best_t, best = t, mcc
    cm_dev = confusion(truth_dev, _predict(vdev, best_t))
    cm_test: Confusion = confusion([not p.supported for p in test], _predict(vtest, best_t))
    per_kind: dict[str, dict[str, int]] = {}
    for p, pred in zip(test, _predict(vtest, best_t), strict=True):
        d = per_kind.setdefault(p.perturbation, {"n": 0, "right": 0})
        d["n"] += 1
        d["right"] += int(pred == (not p.supported))
    out: dict[str, Any] = {
        "description": "Positive = unsupported (a hallucination the check should catch). Threshold chosen "
        "by MCC on the dev part, then applied once to the test part.",
        "threshold": best_t,
        "dev": {"n": len(dev), "confusion": cm_dev.to_dict()},
        "test": {"n": len(test), "confusion": cm_test.to_dict()},
        "test_by_perturbation": per_kind,
    }
    if number_words:
        vnw = verdicts(verifier, number_words)
        cm = confusion([not p.supported for p in number_words], _predict(vnw, best_t))
        out["number_words"] = {"n": len(number_words), "confusion": cm.to_dict()}
    return out
