"""Folders are read as a person expects: hidden files and regassist's own data folders are skipped and listed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.embedding import HashingEmbedder
from ingest.pipeline import Index, walk
from ingest.settings import IngestSettings

from .conftest import ROOT

SOP = "Laboratory backup procedure\n\nBackups of the laboratory system are verified every 90 days.\n"


def _folder(root: Path) -> Path:
    folder = root / "shared-drive"
    (folder / "sub").mkdir(parents=True)
    (folder / "lab-sop.txt").write_text(SOP)
    (folder / "sub" / "notes.md").write_text("# Notes\n\nThe quality unit approves every change to the SOP.\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "manifest.json").write_text('{"version": 1, "documents": []}')
    return folder


def test_folder_walk_skips_hidden_and_data_folders_and_unsupported_types(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    # The index lives inside the folder being ingested, under a name that is not hidden.
    settings = IngestSettings(data_dir=folder / "regassist-data")
    index = Index(settings, embedder=HashingEmbedder())  # type: ignore[arg-type]
    for _ in range(2):  # the second time, the data folder holds catalog.sqlite3, its -wal and chroma.sqlite3
        report = index.ingest([folder])
        assert report.count("failed") == 0, [r.error for r in report.results]
        assert sorted(r.file for r in report.results) == ["lab-sop.txt", "notes.md"]
        assert {k: sorted(Path(p).name for p in v) for k, v in report.skipped.items()} == {
            "hidden": [".DS_Store", ".git"],
            "regassist data folder": ["regassist-data"],
            "corpus description": ["manifest.json"],
            "type .png": ["photo.png"],
        }
    index.close()
    # Another index's data folder (a copy, or one made with another REGASSIST_DATA_DIR) is skipped too.
    (folder / "regassist-data").rename(folder / "old-index")
    assert walk([folder]).skipped["regassist data folder"] == [str(folder / "old-index")]
    # A file named explicitly is read whatever its type: an unsupported one says so.
    files = walk([folder / "photo.png"]).files
    assert files == [folder / "photo.png"]


def test_cli_summary_lists_what_was_skipped_by_reason(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    env = {**os.environ, "REGASSIST_DATA_DIR": str(folder / ".regassist"), "REGASSIST_EMBED_BACKEND": "hashing"}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "api.cli", "ingest", str(folder)], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    # .regassist (the data folder, hidden), .DS_Store and .git.
    assert "skipped: 1 corpus description, 3 hidden, 1 type .png" in out.stdout, out.stdout
    assert not [line for line in out.stdout.splitlines() if line.startswith("failed")], out.stdout
