"""BM25 over the live chunks (bm25s), with a tokenizer that keeps regulatory references whole.

The index is derived from the catalog and records the catalog generation it was built from; a
stale index is rebuilt. It is written to a new folder and switched in by an atomic rename of a
pointer file, so a reader never sees half an index.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

# "3.10.1.2", "820.70(i)", "e6(r3)", "503b", "part11": references are single tokens.
_TOKEN = re.compile(r"\d+(?:\.\d+)+(?:\([a-z0-9]{1,4}\))*|[a-z][a-z0-9]*(?:\([a-z0-9]{1,4}\))?|\d+[a-z]*")
_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)
# Modal verbs carry the regulatory force of a sentence ("must", "should"), but as query words they
# match nearly every chunk; "should" and "not" are kept out of the index like other stopwords.


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))  # type: ignore[attr-defined]


def tokenize(text: str) -> list[str]:
    """Lowercase, keep references whole, drop stopwords, stem words; references also yield their base."""
    out: list[str] = []
    for tok in _TOKEN.findall(text.lower()):
        if tok in _STOPWORDS:
            continue
        if "(" in tok:
            out.append(tok)
            tok = tok[: tok.index("(")]
        if tok[0].isdigit():
            out.append(tok)
        elif len(tok) > 1:
            out.append(_stem(tok))
    return out


class LexicalIndex:
    """A persisted BM25 index of (chunk id, text) pairs."""

    def __init__(self, folder: Path, k1: float = 1.2, b: float = 0.75) -> None:
        self.folder = folder
        self.k1, self.b = k1, b
        self._model: object | None = None
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self.generation = -1

    @property
    def _pointer(self) -> Path:
        return self.folder / "CURRENT"

    def stored_generation(self) -> int:
        """The catalog generation of the index on disk, or -1 if there is none."""
        try:
            return int(json.loads(self._pointer.read_text())["generation"])
        except (OSError, ValueError, KeyError):
            return -1

    def build(self, items: Iterable[tuple[str, str]], generation: int) -> None:
        """Build from (chunk id, text) and switch it in atomically."""
        import bm25s

        ids: list[str] = []
        corpus: list[list[str]] = []
        for cid, text in items:
            ids.append(cid)
            corpus.append(tokenize(text) or ["\x00empty"])
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"gen-{generation}"
        if target.exists():
            shutil.rmtree(target)
        model = bm25s.BM25(k1=self.k1, b=self.b)
        if corpus:
            model.index(corpus, show_progress=False)
            model.save(str(target), show_progress=False)
        else:
            target.mkdir()
        (target / "ids.json").write_text(json.dumps(ids))
        tmp = self.folder / "CURRENT.tmp"
        tmp.write_text(json.dumps({"generation": generation, "dir": target.name}))
        os.replace(tmp, self._pointer)
        for old in self.folder.glob("gen-*"):
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
        self._set(model if corpus else None, ids, generation)

    def load(self) -> bool:
        """Load the index on disk; False if there is none."""
        import bm25s

        try:
            ptr = json.loads(self._pointer.read_text())
        except (OSError, ValueError):
            return False
        target = self.folder / ptr["dir"]
        ids = json.loads((target / "ids.json").read_text())
        model = bm25s.BM25.load(str(target), show_progress=False) if ids else None
        self._set(model, ids, int(ptr["generation"]))
        return True

    def _set(self, model: object | None, ids: list[str], generation: int) -> None:
        self._model, self._ids, self.generation = model, ids, generation
        self._row = {cid: i for i, cid in enumerate(ids)}

    def __len__(self) -> int:
        return len(self._ids)

    def mask_for(self, allowed: set[str]) -> np.ndarray:
        """A 0/1 weight per indexed chunk: 1 where the chunk id is allowed."""
        mask = np.zeros(len(self._ids), dtype=np.float32)
        for cid in allowed:
            i = self._row.get(cid)
            if i is not None:
                mask[i] = 1.0
        return mask

    def query(self, text: str, k: int, mask: np.ndarray | None = None) -> list[tuple[str, float]]:
        """The k best chunk ids by BM25 score (zero scores dropped)."""
        if self._model is None or not self._ids:
            return []
        tokens = [t for t in tokenize(text) if t in self._vocab()]
        if not tokens:
            return []
        docs, scores = self._model.retrieve(  # type: ignore[attr-defined]
            [tokens], k=min(k, len(self._ids)), show_progress=False, weight_mask=mask, n_threads=1
        )
        return [(self._ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0], strict=False) if s > 0]

    def scores_of(self, text: str, ids: Sequence[str]) -> dict[str, float]:
        """The BM25 scores of given chunk ids for a text (0.0 for one that shares no term with it)."""
        if self._model is None or not ids:
            return {}
        tokens = [t for t in tokenize(text) if t in self._vocab()]
        if not tokens:
            return {cid: 0.0 for cid in ids if cid in self._row}
        scores = self._model.get_scores(tokens)  # type: ignore[attr-defined]
        return {cid: float(scores[self._row[cid]]) for cid in ids if cid in self._row}

    def _vocab(self) -> dict[str, int]:
        return self._model.vocab_dict  # type: ignore[union-attr, attr-defined, no-any-return]

    def document_frequency(self, token: str) -> int:
        """How many indexed chunks contain a (tokenized) term; 0 if none."""
        if self._model is None:
            return 0
        tid = self._vocab().get(token)
        if tid is None:
            return 0
        indptr = self._model.scores["indptr"]  # type: ignore[attr-defined]
        return int(indptr[tid + 1] - indptr[tid])
