"""Asking: the answer comes back at once, or streamed as server-sent events; either way it is stored as a draft."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

from api import conversations, records
from api.auth import Principal
from api.deps import AskUser, DeskDep
from api.desk import Desk
from api.errors import BadInput, status_of
from api.schemas import AskIn, RecordOut
from api.views import record_out
from assistant import followup
from assistant.retrieval import Filters
from assistant.types import Answer
from ingest.errors import RegassistError

router = APIRouter(prefix="/api", tags=["ask"])


def _sse(event: str, data: Any) -> bytes:
    return format_sse_event(event=event, data_str=json.dumps(data, ensure_ascii=False))


def _filters(desk: Desk, body: AskIn) -> Filters | None:
    f = body.filters
    if f is None:
        return None
    unknown = [d for d in f.document_id if desk.index.catalog.document(d) is None]
    if unknown:
        raise BadInput(f"filters.document_id: no document with id '{unknown[0]}' (it may have been re-ingested)")
    return Filters(
        issuing_body=tuple(f.issuing_body),
        doc_type=tuple(f.doc_type),
        status=tuple(f.status),
        year_min=f.year_min,
        year_max=f.year_max,
        document_id=tuple(f.document_id),
    )


def _settings(desk: Desk, filters: Filters | None) -> dict[str, Any]:
    # Every assistant setting, as an evaluation run records them (evals/runner.versions), but the API key.
    return {
        **desk.assistant.settings.model_dump(exclude={"llm_api_key"}),
        "filters": asdict(filters) if filters else {},
        "embed_model": desk.index.identity.embed_model,
        "chunker_version": desk.index.identity.chunker_version,
    }


@dataclass
class _Thread:
    """Where a question is asked: its conversation (None: a new one) and what the last turn left."""

    conversation_id: str | None
    previous: followup.Turn | None = None
    history: list[tuple[str, str]] = field(default_factory=list)


def _thread(desk: Desk, who: Principal, conversation_id: str | None) -> _Thread:
    if conversation_id is None:
        return _Thread(None)
    with desk.db.session() as session:
        conv = conversations.owned(session, who, conversation_id)
        turns = conv.turns
        if not turns:
            return _Thread(conv.id)
        history = [(r.question, r.versions[-1].text) for r in turns if not r.abstained]
        return _Thread(conv.id, desk.assistant.turn(turns[-1].answer), history)


def _store(desk: Desk, who: Principal, answer: Answer, filters: Filters | None, thread: _Thread) -> RecordOut:
    with desk.db.session() as session:
        conv, n = conversations.next_turn(desk.db, session, who, thread.conversation_id, answer.question)
        record = records.create(desk.db, session, who, answer, _settings(desk, filters), turn=(conv.id, n))
        session.flush()
        session.refresh(record)
        return record_out(record)


@router.post("/ask", response_model=RecordOut, summary="Ask a question; the cited answer is stored as a draft")
def ask(body: AskIn, desk: DeskDep, who: AskUser) -> RecordOut:
    filters = _filters(desk, body)
    thread = _thread(desk, who, body.conversation_id)
    with desk.answer_slots:
        answer = desk.assistant.ask(body.question, filters, thread.previous, thread.history)
    return _store(desk, who, answer, filters, thread)


@router.post(
    "/ask/stream",
    response_model=None,
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Ask, streaming: `retrieval`, then `token` events, then `answer` (the stored record, verified)",
)
def ask_stream(body: AskIn, desk: DeskDep, who: AskUser) -> StreamingResponse:
    filters = _filters(desk, body)
    # Checked before the stream starts, so a bad question or conversation is a 4xx, not an error event.
    desk.assistant.check_question(body.question)
    thread = _thread(desk, who, body.conversation_id)
    return StreamingResponse(
        _events(desk, who, body.question, filters, thread),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


def _events(desk: Desk, who: Principal, question: str, filters: Filters | None, thread: _Thread) -> Iterator[bytes]:
    try:
        with desk.answer_slots:
            yield from _answer_events(desk, who, question, filters, thread)
    except RegassistError as exc:
        yield _sse("error", {"error": str(exc), "status": status_of(exc)})


def _answer_events(
    desk: Desk, who: Principal, question: str, filters: Filters | None, thread: _Thread
) -> Iterator[bytes]:
    for event in desk.assistant.stream(question, filters, thread.previous, thread.history):
        if event["type"] == "retrieval":
            passages = [
                {"title": e.chunk.title, "page": e.chunk.page_start, "section": e.chunk.section}
                for e in event["evidence"]
            ]
            yield _sse("retrieval", {"passages": passages})
        elif event["type"] == "token":
            yield _sse("token", {"text": event["text"]})
        elif event["type"] == "answer":
            record = _store(desk, who, event["answer"], filters, thread)
            yield _sse("answer", record.model_dump(mode="json"))
