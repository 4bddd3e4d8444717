"""The ONNX runtime: the same vectors as sentence-transformers, made once and cached by the weights' hash."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from ingest.embedding import HashingEmbedder, OnnxEmbedder, SentenceTransformerEmbedder, make_embedder
from ingest.errors import IndexMismatch
from ingest.model_files import resolve_model_path
from ingest.onnx_model import onnx_path
from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .conftest import CORPUS

TEXTS = [
    "What does EU GMP Annex 11 expect about periodic evaluation of computerised systems?",
    "Computerised systems should be periodically evaluated to confirm that they remain in a valid state.",
    "  leading and trailing spaces  ",
    "",
    "audit trail " * 200,  # past the model's 256 word pieces: truncated the same way
]


def test_onnx_vectors_equal_sentence_transformers(embedder: OnnxEmbedder) -> None:
    torch_vectors = SentenceTransformerEmbedder().encode(TEXTS)
    onnx_vectors = embedder.encode(TEXTS)
    assert onnx_vectors.shape == torch_vectors.shape == (len(TEXTS), 384)
    assert np.min(np.sum(onnx_vectors * torch_vectors, axis=1)) > 0.99999
    assert np.allclose(np.linalg.norm(onnx_vectors, axis=1), 1.0, atol=1e-5)


def test_batching_by_length_does_not_change_a_vector(embedder: OnnxEmbedder) -> None:
    alone = np.stack([embedder.encode([t])[0] for t in TEXTS])
    together = embedder.encode(TEXTS)
    assert np.max(np.abs(alone - together)) < 1e-5


def test_the_onnx_file_is_reused_and_keyed_by_the_weights(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    again = make_embedder("onnx", "all-MiniLM-L6-v2")
    assert isinstance(again, OnnxEmbedder) and again.onnx_file == embedder.onnx_file
    model = resolve_model_path("all-MiniLM-L6-v2")
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    cache = tmp_path / "cache"
    assert onnx_path(copy, cache, "fp32").name == onnx_path(model, cache, "fp32").name
    with (copy / "config.json").open("a") as f:
        f.write("\n")  # any change to the model's files names a new ONNX file
    assert onnx_path(copy, cache, "fp32").name != onnx_path(model, cache, "fp32").name


class TorchLabelled(HashingEmbedder):
    """The hashing fake claiming to run in torch: the same vectors, another runtime."""

    runtime = "torch"


def test_an_index_refuses_another_runtime_or_precision(small_settings: IngestSettings) -> None:
    Index(small_settings, embedder=HashingEmbedder()).close()
    hashing = small_settings.model_copy(update={"embed_backend": "hashing", "embed_model": "hashing-64"})
    Index(hashing).close()
    with pytest.raises(IndexMismatch, match="embed_precision='fp32' but embed_precision='int8'"):
        Index(hashing.model_copy(update={"embed_precision": "int8"}))
    with pytest.raises(IndexMismatch, match="embed_runtime='hashing' but embed_runtime='torch'"):
        Index(small_settings, embedder=TorchLabelled())


def test_an_index_built_before_runtimes_were_recorded_is_refused_with_the_fix(small_settings: IngestSettings) -> None:
    Index(small_settings, embedder=HashingEmbedder()).close()
    db = sqlite3.connect(small_settings.data_dir / "catalog.sqlite3")
    db.execute("DELETE FROM meta WHERE key IN ('embed_runtime', 'embed_precision')")
    db.commit()
    db.close()
    with pytest.raises(IndexMismatch, match=r"embed_runtime='torch'.*ingest --rebuild.*sentence-transformers"):
        Index(small_settings, embedder=HashingEmbedder())


def test_the_default_backend_ingests_and_finds_with_onnx(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    index = Index(IngestSettings(data_dir=tmp_path / "data"))
    assert index.identity.embed_runtime == "onnxruntime" and index.identity.embed_precision == "fp32"
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CORPUS / "EC_EU-GMP-Annex11_computerised-systems_2011.pdf", folder)
    index.ingest([folder])
    assert isinstance(index.embedder, OnnxEmbedder)
    vec = index.embedder.encode(["periodic evaluation of computerised systems"])[0]
    top, _score = index.vectors.query(vec, 3)[0]
    assert index.catalog.chunks_by_id([top])[top].text.startswith("11.  Periodic evaluation")
    index.close()
