"""Start-up stays lean: `--help`, `docs` and `audit` load nothing heavy, and `ask` never loads torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.embedding import OnnxEmbedder
from ingest.pipeline import Index
from ingest.settings import IngestSettings

ROOT = Path(__file__).resolve().parent.parent
# Each costs from a tenth of a second (LangChain) to five seconds (sentence-transformers) to import.
HEAVY = (
    "torch",
    "sentence_transformers",
    "transformers",
    "chromadb",
    "onnxruntime",
    "ragas",
    "langchain_core",
    "langchain_openai",
    "langchain_community",
    "bm25s",
    "pypdf",
    "fastapi",
)
# Answering needs ONNX Runtime, Chroma, BM25 and LangChain's seams; never the training stack.
NEVER_FOR_ASK = ("torch", "sentence_transformers", "transformers", "ragas", "langchain_openai", "fastapi")
DRIVER = """
import atexit, runpy, sys
listing = sys.argv[1]
atexit.register(lambda: open(listing, "w").write("\\n".join(sorted(sys.modules))))
sys.argv = ["regassist", *sys.argv[2:]]
runpy.run_module("api.cli", run_name="__main__")
"""


def _modules_after(tmp_path: Path, *args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Run `regassist ARGS` in a fresh interpreter; the top-level packages it imported, and the run."""
    listing = tmp_path / "modules.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, str(listing), *args], capture_output=True, text=True, timeout=300, env=env
    )
    return {m.split(".")[0] for m in listing.read_text().split()}, run


def test_help_docs_and_audit_import_nothing_heavy(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    for args in (("--help",), ("docs", "--data-dir", data), ("audit", "verify", "--data-dir", data)):
        modules, run = _modules_after(tmp_path, *args)
        assert run.returncode == 0, run.stderr
        assert modules.isdisjoint(HEAVY), (args, sorted(modules & set(HEAVY)))


def test_ask_answers_without_importing_torch(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "backup-sop.txt").write_text(
        "Laboratory backup procedure\n\nBackups of the laboratory system are verified every 90 days by the "
        "quality unit. The verification is recorded in the backup log.\n"
    )
    data = tmp_path / "data"
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    assert index.ingest([folder]).count("added") == 1
    index.close()
    modules, run = _modules_after(
        tmp_path, "ask", "How often are backups of the laboratory system verified?", "--data-dir", str(data)
    )
    assert run.returncode == 0, run.stderr
    assert "every 90 days" in run.stdout and "backup-sop.txt" in run.stdout
    assert modules.isdisjoint(NEVER_FOR_ASK), sorted(modules & set(NEVER_FOR_ASK))
    assert "onnxruntime" in modules


def test_docs_in_a_pipe_prints_whole_lines_and_json(tmp_path: Path, embedder: OnnxEmbedder) -> None:
    """`regassist docs | grep Annex` finds the document: a table wrapped long file names across lines."""
    import json

    folder = tmp_path / "docs"
    folder.mkdir()
    name = "EC_EU-GMP-Annex11_computerised-systems_local-translation_2011_with-a-long-name.txt"
    (folder / name).write_text("Annex 11 in translation\n\nAudit trails should be regularly reviewed.\n")
    data = tmp_path / "data"
    index = Index(IngestSettings(data_dir=data), embedder=embedder)
    assert index.ingest([folder]).count("added") == 1
    index.close()
    _, run = _modules_after(tmp_path, "docs", "--data-dir", str(data))
    assert run.returncode == 0, run.stderr
    header, line = run.stdout.splitlines()
    assert header.split("\t") == ["id", "title", "body", "type", "status", "year", "pages", "chunks", "file"]
    assert line.split("\t")[-1] == name and line.split("\t")[6:8] == ["1", "1"]
    modules, run = _modules_after(tmp_path, "docs", "--json", "--data-dir", str(data))
    (doc,) = json.loads(run.stdout)
    assert doc["file"] == name and len(doc["document_id"]) == 24 and doc["chunks"] == 1
    assert modules.isdisjoint(HEAVY), sorted(modules & set(HEAVY))
