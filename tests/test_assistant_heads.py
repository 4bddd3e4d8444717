"""Sentence heads are embedded once and served from the cache afterwards, with the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.extractive import pick_sentences
from assistant.heads import HeadVectors
from assistant.service import Assistant
from ingest.embedding import OnnxEmbedder
from ingest.pipeline import Index


class Counting:
    """The real model, counting the texts it is asked to embed."""

    def __init__(self, embedder: OnnxEmbedder) -> None:
        self.embedder = embedder
        self.texts = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return self.embedder.encode(texts)


def test_cache_serves_vectors_across_restarts_and_keeps_models_apart(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    enc = Counting(embedder)
    texts = ["Audit trails need to be regularly reviewed.", "A new independent test dataset is required."]
    first = HeadVectors(tmp_path / "heads.sqlite3", "all-MiniLM-L6-v2", enc)
    assert first.warm(texts) == 2 and first.warm(texts) == 0
    direct = embedder.encode(texts)
    np.testing.assert_allclose(first.vectors(texts), direct, atol=1e-5)
    first.close()
    again = HeadVectors(tmp_path / "heads.sqlite3", "all-MiniLM-L6-v2", enc)
    np.testing.assert_allclose(again.vectors(texts[::-1]), direct[::-1], atol=1e-5)
    assert enc.texts == 2  # nothing embedded twice, even by a new process's cache
    other = HeadVectors(tmp_path / "heads.sqlite3", "another-model", enc)
    other.vectors(texts[:1])
    assert enc.texts == 3


def test_after_warming_answers_embed_only_the_question_and_pick_the_same_sentences(
    corpus_index: Index, embedder: OnnxEmbedder
) -> None:
    assistant = Assistant(corpus_index)
    assistant.warm()
    enc = Counting(embedder)
    assistant.heads.encode = enc
    question = "How often should computerised systems be periodically evaluated under Annex 11?"
    evidence = assistant.searcher.search(question)
    cached = pick_sentences(question, evidence, enc, assistant._idf, 2, encode_heads=assistant.heads.vectors)
    assert enc.texts == 1  # the question only
    fresh = pick_sentences(question, evidence, embedder.encode, assistant._idf, 2)
    assert [(p.chunk.chunk_id, p.start, p.end) for p in cached] == [(p.chunk.chunk_id, p.start, p.end) for p in fresh]
    assert [round(p.score, 4) for p in cached] == [round(p.score, 4) for p in fresh]
