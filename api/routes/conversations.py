"""Conversations: the sidebar's list (with search), one thread with its turns, rename and delete."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from api import conversations
from api.deps import DeskDep, SessionDep, UserDep
from api.schemas import ConversationDetail, ConversationEdit, ConversationOut
from api.views import record_out

router = APIRouter(prefix="/api", tags=["conversations"])


@router.get("/conversations", response_model=list[ConversationOut], summary="Your conversations, newest first")
def list_conversations(
    session: SessionDep,
    who: UserDep,
    q: str = Query("", max_length=200, description="Every word must be in the title or one of the questions"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
) -> list[ConversationOut]:
    return [ConversationOut(**conversations.summary(c)) for c in conversations.mine(session, who, q, limit, offset)]


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail, summary="One conversation")
def get_conversation(conversation_id: str, session: SessionDep, who: UserDep) -> ConversationDetail:
    conv = conversations.get(session, who, conversation_id)
    return ConversationDetail(**conversations.summary(conv), records=[record_out(r) for r in conv.turns])


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut, summary="Rename (audited)")
def rename_conversation(
    conversation_id: str, body: ConversationEdit, desk: DeskDep, session: SessionDep, who: UserDep
) -> ConversationOut:
    conv = conversations.rename(desk.db, session, who, conversation_id, body.title)
    session.flush()
    return ConversationOut(**conversations.summary(conv))


@router.delete(
    "/conversations/{conversation_id}",
    status_code=204,
    summary="Delete: hidden from you, kept for review and audit (audited)",
)
def delete_conversation(conversation_id: str, desk: DeskDep, session: SessionDep, who: UserDep) -> Response:
    conversations.delete(desk.db, session, who, conversation_id)
    return Response(status_code=204)
