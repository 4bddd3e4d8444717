"""Embeddings of sentence heads, computed once per sentence and kept beside the index.

The extractive picker compares the question with the first words of each candidate sentence. Embedding
those heads at question time was about two thirds of an answer's CPU time. A sentence does not change
until its document does, so its head is embedded once (after ingest, by `warm`, or on first use) and
looked up afterwards: in memory, then in the store, which is `heads.sqlite3` in the index folder or, when
the catalog is in PostgreSQL, the table `heads` beside it, shared by every process on every machine.
Entries are keyed by the embedding model and the exact text, so a model change can never serve a stale
vector. Heads of removed documents stay behind: a few kilobytes each, never served for text that is no
longer retrieved.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from sqlalchemy import Column, LargeBinary, MetaData, Table, Text, func, inspect, literal, select, text

from ingest.catalog import catalog_engine, lock_schema

Encode = Callable[[list[str]], np.ndarray]

_HEADS = Table("heads", MetaData(), Column("key", Text, primary_key=True), Column("vec", LargeBinary, nullable=False))


class HeadVectors:
    """A persistent text -> vector cache for one embedding model, in a SQLite file or PostgreSQL."""

    def __init__(self, location: Path | str, model: str, encode: Encode) -> None:
        self.model = model
        self.encode = encode
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self._engine = catalog_engine(location)
        with self._engine.connect().execution_options(write=True) as conn, conn.begin():
            if not inspect(conn).has_table("heads"):
                lock_schema(conn)  # two processes must not both find it missing and create it
                _HEADS.create(conn, checkfirst=True)

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model}\0{text}".encode()).hexdigest()

    def _stored(self, keys: list[str], with_vectors: bool) -> dict[str, bytes]:
        """The stored vectors of these keys (empty bytes for each, when only which are stored is wanted)."""
        vec = _HEADS.c.vec if with_vectors else literal(b"")
        out: dict[str, bytes] = {}
        with self._engine.connect() as conn:
            for i in range(0, len(keys), 500):
                found = conn.execute(select(_HEADS.c.key, vec).where(_HEADS.c.key.in_(keys[i : i + 500])))
                out |= {str(k): bytes(v) for k, v in found}
        return out

    def vectors(self, texts: list[str]) -> np.ndarray:
        """One vector per text, embedding only those never seen before."""
        keys = [self._key(t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memory]
        if missing:
            for k, blob in self._stored(missing, with_vectors=True).items():
                self._memory[k] = np.frombuffer(blob, dtype=np.float32)
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._memory}
            if todo:
                self._store(list(todo), self.encode(list(todo.values())))
        return np.stack([self._memory[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _store(self, keys: list[str], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, dtype=np.float32)
        rows = [{"key": k, "vec": v.tobytes()} for k, v in zip(keys, vecs, strict=True)]
        with self._engine.connect().execution_options(write=True) as conn, conn.begin():
            # Another process may have stored some of these since they were looked up: theirs stay.
            conn.execute(text("INSERT INTO heads(key, vec) VALUES (:key, :vec) ON CONFLICT(key) DO NOTHING"), rows)
        with self._lock:
            for k, v in zip(keys, vecs, strict=True):
                self._memory[k] = v

    def warm(self, texts: Iterable[str], batch: int = 256, progress: Callable[[int], None] | None = None) -> int:
        """Embed the texts not stored yet; return how many were embedded."""
        wanted = {self._key(t): t for t in texts}
        have = self._stored(list(wanted), with_vectors=False)
        # Sorted by length, so that each batch holds texts of about one length and pads little.
        todo = sorted((k for k in wanted if k not in have), key=lambda k: len(wanted[k]))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            self._store(part, self.encode([wanted[k] for k in part]))
            if progress:
                progress(len(part))
        return len(todo)

    def __len__(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(_HEADS)).scalar_one())

    def close(self) -> None:
        """Close the connections."""
        self._engine.dispose()
