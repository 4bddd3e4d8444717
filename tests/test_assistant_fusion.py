"""Convex fusion of dense and BM25 scores: by hand, and on the bundled corpus with both scores completed."""

from __future__ import annotations

import pytest

from assistant.retrieval import HybridSearcher, RetrievalConfig, convex_fuse
from ingest.pipeline import Index


def test_convex_fusion_by_hand() -> None:
    dense = {"a": 0.9, "b": 0.5, "c": 0.1}
    lexical = {"a": 0.0, "b": 12.0, "c": 6.0}
    fused = convex_fuse(dense, lexical, alpha=0.3)
    # a: 0.3 * 1 + 0.7 * 0 = 0.3; b: 0.3 * 0.5 + 0.7 * 1 = 0.85; c: 0.3 * 0 + 0.7 * 0.5 = 0.35
    assert fused == pytest.approx({"a": 0.3, "b": 0.85, "c": 0.35})
    # alpha 1 is dense order, alpha 0 is BM25 order.
    assert sorted(convex_fuse(dense, lexical, 1.0).items(), key=lambda t: -t[1])[0][0] == "a"
    assert sorted(convex_fuse(dense, lexical, 0.0).items(), key=lambda t: -t[1])[0][0] == "b"
    # A candidate that one ranking lacks counts as that ranking's worst.
    assert convex_fuse({"a": 0.8, "b": 0.2}, {"a": 3.0}, 0.5) == pytest.approx({"a": 1.0, "b": 0.0})


def test_bm25_scores_of_named_chunks_match_its_ranking(corpus_index: Index) -> None:
    question = "How long must audit trail records be retained under Annex 11?"
    corpus_index.refresh_lexical()
    ranked = corpus_index.lexical.query(question, 20)
    again = corpus_index.lexical.scores_of(question, [cid for cid, _ in ranked])
    assert again == pytest.approx(dict(ranked))
    assert corpus_index.lexical.scores_of(question, ["no-such-chunk"]) == {}


def test_convex_search_gives_every_passage_its_real_similarity(corpus_index: Index) -> None:
    """A passage found only by BM25 carries its cosine similarity, so abstention never sees a made-up 0."""
    question = "What does Annex 11 require of audit trails for GMP-relevant changes and deletions?"
    searcher = HybridSearcher(corpus_index, RetrievalConfig(k=8, fusion="convex", alpha=0.3, merge_neighbours=False))
    qvec = searcher.embed_query(question)
    evidence = searcher.search(question, qvec=qvec)
    assert evidence[0].chunk.file.startswith("EC_EU-GMP-Annex11"), [e.chunk.file for e in evidence]
    stored = corpus_index.vectors.vectors([e.chunk.chunk_id for e in evidence])
    for e in evidence:
        assert e.dense_score == pytest.approx(float(stored[e.chunk.chunk_id] @ qvec), abs=1e-4)
        assert e.dense_score > 0.0
    # The fused order is the convex score order.
    assert [e.score for e in evidence] == sorted((e.score for e in evidence), reverse=True)


def test_searches_with_different_filters_at_once_all_succeed(corpus_index: Index) -> None:
    """The API answers in threads, and each conversation's follow-ups filter by their own documents: eight
    threads searching at once, each under other filters, all get their results (the filter-mask cache was
    once cleared by one thread between another's check and read, a KeyError)."""
    import sys
    import threading

    from assistant.retrieval import Filters

    searcher = HybridSearcher(corpus_index, RetrievalConfig(k=4))
    docs = [r["document_id"] for r in corpus_index.catalog.documents()][:8]
    errors: list[BaseException] = []
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can

    def run(doc: str) -> None:
        try:
            for _ in range(1500):
                assert searcher._mask(Filters(document_id=(doc,))).any()
        except BaseException as e:  # collected and asserted on below
            errors.append(e)

    try:
        for _ in range(5):  # five rounds: before the fix, two rounds in three hit the race
            searcher._mask_cache.clear()
            threads = [threading.Thread(target=run, args=(d,)) for d in docs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:3]
    # And the searches themselves, with those filters at once, stay within their documents.
    results: dict[str, set[str]] = {}

    def search(doc: str) -> None:
        hits = searcher.search("What records must be kept?", Filters(document_id=(doc,)))
        results[doc] = {e.chunk.document_id for e in hits}

    threads = [threading.Thread(target=search, args=(d,)) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(found <= {doc} for doc, found in results.items()) and len(results) == len(docs)
