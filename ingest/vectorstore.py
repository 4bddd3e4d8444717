"""Chroma, embedded (a directory) or a server (by URL), with tuned HNSW and vectors we compute ourselves."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ingest.errors import ConfigError, IndexMismatch

# Indexes built before the runtime was recorded were all embedded by sentence-transformers in torch, fp32.
# ONNX fp32 vectors agree with them to 1e-6, but the identity says what built an index, so such an index is
# refused under the ONNX backend like any other mismatch: rebuild it, or set REGASSIST_EMBED_BACKEND.
LEGACY_RUNTIME = {"embed_runtime": "torch", "embed_precision": "fp32"}


@dataclass(frozen=True)
class IndexIdentity:
    """What built a collection; a query with anything else is refused."""

    embed_model: str
    dimension: int
    chunker_version: str
    # What computed the vectors ("onnxruntime", "torch") and at which precision ("fp32", "int8").
    embed_runtime: str
    embed_precision: str

    def as_metadata(self) -> dict[str, str | int]:
        """Chroma collection metadata."""
        return {
            "embed_model": self.embed_model,
            "dimension": self.dimension,
            "chunker_version": self.chunker_version,
            "embed_runtime": self.embed_runtime,
            "embed_precision": self.embed_precision,
        }


@dataclass(frozen=True)
class HNSWParams:
    """HNSW graph parameters; see IngestSettings for why they differ from Chroma's defaults."""

    max_neighbors: int = 32
    ef_construction: int = 200
    ef_search: int = 128


class ChromaStore:
    """One Chroma collection holding one vector per live chunk, with filterable metadata."""

    def __init__(
        self,
        collection: str,
        identity: IndexIdentity,
        path: Path | None = None,
        url: str | None = None,
        hnsw: HNSWParams | None = None,
    ) -> None:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if url:
            parsed = urlparse(url)
            if not parsed.hostname:
                raise ConfigError(f"REGASSIST_CHROMA_URL '{url}' is not a URL like http://127.0.0.1:8000")
            self.client = chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
            self.location = url
        else:
            assert path is not None
            path.mkdir(parents=True, exist_ok=True)
            self.client = chromadb.PersistentClient(path=str(path), settings=settings)
            self.location = str(path)
        hnsw = hnsw or HNSWParams()
        self.identity = identity
        self.collection = self.client.get_or_create_collection(
            name=collection,
            metadata=dict(identity.as_metadata()),
            # No embedding function: Chroma's default downloads a model and fails offline.
            embedding_function=None,
            configuration={
                "hnsw": {
                    "space": "cosine",
                    "max_neighbors": hnsw.max_neighbors,
                    "ef_construction": hnsw.ef_construction,
                    "ef_search": hnsw.ef_search,
                }
            },
        )
        self.check_identity()

    def check_identity(self) -> None:
        """Refuse a collection built by another embedding model or chunker."""
        stored = dict(self.collection.metadata or {})
        if "embed_model" in stored and "embed_runtime" not in stored:
            stored.update(LEGACY_RUNTIME)
        for key, want in self.identity.as_metadata().items():
            have = stored.get(key)
            if have is not None and have != want:
                raise IndexMismatch(
                    f"The index at {self.location} was built with {key}={have!r} but {key}={want!r} is configured. "
                    "Run `regassist ingest --rebuild PATH...` to rebuild it, or configure the model it was built with"
                    + (" (REGASSIST_EMBED_BACKEND=sentence-transformers for torch)." if key == "embed_runtime" else ".")
                )

    def count(self) -> int:
        """How many vectors the collection holds."""
        return int(self.collection.count())

    def ids(self) -> set[str]:
        """Every vector id in the collection."""
        out: set[str] = set()
        offset, page = 0, 5000
        while True:
            got = self.collection.get(include=[], limit=page, offset=offset)
            out.update(got["ids"])
            if len(got["ids"]) < page:
                return out
            offset += page

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict[str, Any]]) -> None:
        """Add or overwrite vectors, in batches Chroma accepts."""
        step = 2000
        for i in range(0, len(ids), step):
            self.collection.upsert(
                ids=list(ids[i : i + step]),
                embeddings=vectors[i : i + step],
                metadatas=list(metadatas[i : i + step]),
            )

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id (missing ids are ignored)."""
        for i in range(0, len(ids), 2000):
            self.collection.delete(ids=list(ids[i : i + 2000]))

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        """The k nearest chunk ids with cosine similarity, optionally filtered on metadata."""
        if k < 1:
            return []
        # No count() first: Chroma returns what it has for a collection smaller than k (or empty), and
        # counting 100,000 vectors took 7 of a query's 10 ms.
        res = self.collection.query(query_embeddings=[vector], n_results=k, where=where or None, include=["distances"])
        ids = res["ids"][0]
        dists = (res.get("distances") or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(ids, dists, strict=False)]

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Stored vectors by id (for exact-search checks and similarity)."""
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(ids), 2000):
            got = self.collection.get(ids=list(ids[i : i + 2000]), include=["embeddings"])
            embs = got.get("embeddings")
            if embs is None:
                continue
            for cid, v in zip(got["ids"], embs, strict=False):
                out[cid] = np.asarray(v, dtype=np.float32)
        return out


class PinnedVectors(ChromaStore):
    """The same collection, searched among the given document versions only."""

    def __init__(self, live: ChromaStore, document_ids: Sequence[str]) -> None:
        self.__dict__.update(live.__dict__)
        self._only: dict[str, Any] = {"document_id": {"$in": sorted(document_ids)}}

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        return super().query(vector, k, {"$and": [self._only, where]} if where else self._only)
