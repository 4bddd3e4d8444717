"""SIGKILL in the middle of an ingest: no process is left behind, and the next run leaves the store consistent
and complete."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .conftest import CORPUS

FILES = [
    "EC_EU-GMP-Annex11_computerised-systems_2011.pdf",
    "FDA_CPG-490.100_process-validation_2004.pdf",
    "FDA_guidance_Part11-electronic-records-signatures-scope-application_2003.pdf",
    "FDA_draft-guidance_refuse-to-file-NDA-BLA_2017.pdf",
    "ICH_Q9_quality-risk-management_2005.pdf",
    "FDA_draft-guidance_BIMO-inspections_2024.pdf",
]


def _documents(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return int(con.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(c) for c in (task / "children").read_text().split()}
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_sigkill_mid_ingest_then_rerun_is_consistent(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "docs"
    folder.mkdir()
    for f in FILES:
        shutil.copy(CORPUS / f, folder)
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "api.cli", "ingest", str(folder), "--data-dir", str(data)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and _documents(data / "catalog.sqlite3") < 2:
        time.sleep(0.05)
    workers = _children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The parse worker (and multiprocessing's resource tracker) must not outlive the ingest that started them.
    assert workers, "the ingest should have started its parse worker by now"
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)], "processes left behind by the killed ingest"
    killed_at = _documents(data / "catalog.sqlite3")
    assert 2 <= killed_at < len(FILES), "the kill must land in the middle of the batch"

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    assert {d["file"] for d in index.catalog.documents()} == set(FILES)
    live = index.catalog.chunk_ids()
    assert index.vectors.ids() == live
    index.refresh_lexical()
    assert set(index.lexical._ids) == live
