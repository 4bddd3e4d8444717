"""Embedding backends behind LangChain's `Embeddings` seam: ONNX Runtime (queries), torch, and a fake."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.errors import ConfigError
from ingest.model_files import DEFAULT_MODEL, MODEL_MAX_TOKENS, resolve_model_path, token_counter

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_MAX_TOKENS",
    "EncodingEmbedder",
    "HashingEmbedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "make_embedder",
    "resolve_model_path",
    "runtime_of",
    "token_counter",
]


class SentenceTransformerEmbedder(Embeddings):
    """A sentence-transformers model in torch, loaded from a local directory; never touches a hub.

    Queries use `OnnxEmbedder`; this one stays for fine-tuning, for making the ONNX file and for comparison.
    """

    runtime = "torch"
    precision = "fp32"

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        self.name = DEFAULT_MODEL if model.endswith(DEFAULT_MODEL) else str(path.name)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = batch_size
        self.max_seq_length = int(self._model.max_seq_length or MODEL_MAX_TOKENS + 2)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages."""
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


class OnnxEmbedder(Embeddings):
    """The same model in ONNX Runtime with its own `tokenizers` tokenizer: no torch, no sentence-transformers.

    The ONNX file is made from the model directory's weights on first use and cached (`ingest.onnx_model`).
    Texts are sorted by length and batched, so a short sentence head is never padded to a long chunk.
    """

    runtime = "onnxruntime"
    # Word pieces per batch. ONNX Runtime's working memory grows with batch x length^2 (attention) and its
    # arena keeps the largest: on 600 corpus chunks, batches of 32 x 256 pieces took the process 626 MB above
    # its start, 16 x 256 took 330 MB, and 4 x 256 took 110 MB and ran 20-25% faster (2 cores; 2 x 256 was
    # no smaller in time, 55 MB less). Short texts (sentence heads) go in batches of up to `batch_size` x 2
    # rows under the same budget.
    token_budget = 4 * 256

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        batch_size: int = 32,
        precision: str = "fp32",
        cache_dir: Path | None = None,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from ingest.onnx_model import default_cache_dir, ensure_onnx

        path = resolve_model_path(model)
        self.name = DEFAULT_MODEL if model.endswith(DEFAULT_MODEL) else str(path.name)
        self.precision = precision
        self.batch_size = batch_size
        self.max_seq_length = _max_seq_length(path)
        self.onnx_file = ensure_onnx(path, cache_dir or default_cache_dir(), precision)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.onnx_file), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self._tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(self.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised float32 vectors, one row per text."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        # sentence-transformers strips its inputs before tokenizing; so do we, for the same vectors.
        encodings = self._tok.encode_batch([t.strip() for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        start = 0
        while start < len(order):
            # Longest first: the first row of a batch sets its width, and so how many rows fit the budget.
            size = max(1, min(self.batch_size * 2, self.token_budget // int(lengths[order[start]])))
            rows = order[start : start + size]
            start += size
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                ids[r, :n] = e.ids
                mask[r, :n] = 1
                types[r, :n] = e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            out[rows] = self._session.run(None, {k: v for k, v in feed.items() if k in self._inputs})[0]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages."""
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


def _max_seq_length(path: Path) -> int:
    """The model's input length in word pieces, as sentence-transformers reads it."""
    try:
        return int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return MODEL_MAX_TOKENS + 2


class HashingEmbedder(Embeddings):
    """An honest fake for tests: a deterministic bag-of-words hash, so shared words mean similar vectors."""

    runtime = "hashing"
    precision = "fp32"

    def __init__(self, dimension: int = 64) -> None:
        self.name = f"hashing-{dimension}"
        self.dimension = dimension

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised hashed word counts."""
        import re

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[i, h % self.dimension] += 1.0
            norm = float(np.linalg.norm(out[i]))
            if norm:
                out[i] /= norm
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed passages."""
        return self.encode(texts).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        """Embed a question."""
        return self.encode([text])[0].tolist()  # type: ignore[no-any-return]


EncodingEmbedder = OnnxEmbedder | SentenceTransformerEmbedder | HashingEmbedder
Factory = Callable[[str, int, str, "Path | None"], EncodingEmbedder]


def _torch(model: str, batch: int, precision: str, cache: Path | None) -> SentenceTransformerEmbedder:
    if precision != "fp32":
        raise ConfigError("The sentence-transformers backend runs fp32 only; set REGASSIST_EMBED_PRECISION=fp32")
    return SentenceTransformerEmbedder(model, batch)


_REGISTRY: dict[str, Factory] = {
    "onnx": lambda model, batch, precision, cache: OnnxEmbedder(model, batch, precision, cache),
    "sentence-transformers": _torch,
    "hashing": lambda model, batch, precision, cache: HashingEmbedder(),
}
_RUNTIMES = {"onnx": OnnxEmbedder.runtime, "sentence-transformers": "torch", "hashing": "hashing"}


def runtime_of(backend: str) -> str:
    """What a backend computes with, for the index identity, without building the embedder."""
    return _RUNTIMES.get(backend, backend)


def make_embedder(
    backend: str, model: str, batch_size: int = 32, precision: str = "fp32", cache_dir: Path | None = None
) -> EncodingEmbedder:
    """Build an embedder from the registry by backend name."""
    try:
        factory = _REGISTRY[backend]
    except KeyError:
        raise ConfigError(f"Unknown embedding backend '{backend}'; choose one of {sorted(_REGISTRY)}") from None
    return factory(model, batch_size, precision, cache_dir)
