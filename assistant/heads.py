"""Embeddings of sentence heads, computed once per sentence and kept beside the index.

The extractive picker compares the question with the first words of each candidate sentence. Embedding
those heads at question time was about two thirds of an answer's CPU time. A sentence does not change
until its document does, so its head is embedded once (after ingest, by `warm`, or on first use) and
looked up afterwards: in memory, then in `heads.sqlite3` in the index folder. Entries are keyed by the
embedding model and the exact text, so a model change can never serve a stale vector. Heads of removed
documents stay behind: a few kilobytes each, never served for text that is no longer retrieved.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

Encode = Callable[[list[str]], np.ndarray]


class HeadVectors:
    """A persistent text -> vector cache for one embedding model."""

    def __init__(self, path: Path, model: str, encode: Encode) -> None:
        self.model = model
        self.encode = encode
        self._memory: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS heads (key TEXT PRIMARY KEY, vec BLOB NOT NULL)")

    def _key(self, text: str) -> str:
        return hashlib.sha1(f"{self.model}\0{text}".encode()).hexdigest()

    def vectors(self, texts: list[str]) -> np.ndarray:
        """One vector per text, embedding only those never seen before."""
        keys = [self._key(t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memory]
        if missing:
            with self._lock:
                marks = ",".join("?" * len(missing))
                for k, blob in self._db.execute(f"SELECT key, vec FROM heads WHERE key IN ({marks})", missing):
                    self._memory[k] = np.frombuffer(blob, dtype=np.float32)
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._memory}
            if todo:
                self._store(list(todo), self.encode(list(todo.values())))
        return np.stack([self._memory[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)

    def _store(self, keys: list[str], vecs: np.ndarray) -> None:
        vecs = np.asarray(vecs, dtype=np.float32)
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR IGNORE INTO heads(key, vec) VALUES (?, ?)",
                [(k, v.tobytes()) for k, v in zip(keys, vecs, strict=True)],
            )
            self._db.execute("COMMIT")
            for k, v in zip(keys, vecs, strict=True):
                self._memory[k] = v

    def warm(self, texts: Iterable[str], batch: int = 256, progress: Callable[[int], None] | None = None) -> int:
        """Embed the texts not stored yet; return how many were embedded."""
        wanted = {self._key(t): t for t in texts}
        have: set[str] = set()
        keys = list(wanted)
        with self._lock:
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                have |= {r[0] for r in self._db.execute(f"SELECT key FROM heads WHERE key IN ({marks})", part)}
        # Sorted by length, so that each batch holds texts of about one length and pads little.
        todo = sorted((k for k in keys if k not in have), key=lambda k: len(wanted[k]))
        for i in range(0, len(todo), batch):
            part = todo[i : i + batch]
            self._store(part, self.encode([wanted[k] for k in part]))
            if progress:
                progress(len(part))
        return len(todo)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM heads").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        self._db.close()
