"""The hybrid searcher behind LangChain's retriever seam, kept apart so that answering never imports it."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieval import Filters


class RegassistRetriever(BaseRetriever):
    """The hybrid searcher as a LangChain retriever: one Document per passage, provenance in metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    searcher: Any  # HybridSearcher; a plain dataclass pydantic need not validate
    filters: Filters | None = None
    k: int = 8

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(
                page_content=e.text,
                metadata={
                    "chunk_id": e.chunk.chunk_id,
                    "chunk_ids": [c.chunk_id for c in e.chunks],
                    "document_id": e.chunk.document_id,
                    "file": e.chunk.file,
                    "title": e.chunk.title,
                    "section": e.chunk.section,
                    "page_start": e.chunk.page_start,
                    "page_end": e.chunks[-1].page_end,
                    "score": e.score,
                    "status": e.chunk.meta.status,
                },
            )
            for e in self.searcher.search(query, self.filters, self.k)
        ]
