"""HTTP request and response bodies, separate from the tables and the assistant's records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["staff", "consultant", "reviewer", "evaluator", "admin"]


class FiltersIn(BaseModel):
    """Which documents to search; empty lists do not filter."""

    model_config = ConfigDict(extra="forbid")
    issuing_body: list[str] = Field(default_factory=list, max_length=20)
    doc_type: list[str] = Field(default_factory=list, max_length=20)
    status: list[str] = Field(default_factory=list, max_length=5)
    year_min: int | None = Field(default=None, ge=1900, le=2100)
    year_max: int | None = Field(default=None, ge=1900, le=2100)
    # Only these documents (ids from GET /api/documents); a follow-up stays within them too.
    document_id: list[Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]] = Field(
        default_factory=list, max_length=50
    )


class AskIn(BaseModel):
    """A question for the assistant."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=2000, description="The question, at most 2,000 characters")
    filters: FiltersIn | None = None
    conversation_id: str | None = Field(
        default=None,
        max_length=32,
        pattern=r"^[0-9a-f]{1,32}$",
        description="Continue this conversation of yours (a follow-up is read in its context); none starts one",
    )


class VersionOut(BaseModel):
    """One version of an answer's text."""

    version: int
    text: str
    claims: list[dict[str, Any]]
    diff: str
    note: str
    author: str | None
    created_at: datetime


class CitationOut(BaseModel):
    """A numbered source of an answer."""

    model_config = ConfigDict(from_attributes=True)

    n: int
    document_id: str
    file: str
    title: str
    section: str
    page: int
    # How a reader names the page: "§4.2 Deviations" (a Word section), "p. 3 (OCR)"; "" means "p. {page}".
    page_label: str = ""
    quote: str
    chunk_id: str
    doc_status: str


class ReviewOut(BaseModel):
    """A decision on a version."""

    version: int
    reviewer: str
    decision: str
    reason: str
    documents: list[dict[str, Any]]
    created_at: datetime


class RecordOut(BaseModel):
    """An answer record: the current text, its claims and citations, and where it stands in review."""

    id: str
    question: str
    asker: str
    status: str
    abstained: bool
    abstain_reason: str | None
    text: str
    current_version: int
    claims: list[dict[str, Any]]
    citations: list[CitationOut]
    warnings: list[str]
    rereview: list[dict[str, Any]] | None
    backend: str
    model: str
    prompt_version: str
    index_version: str
    created_at: datetime
    updated_at: datetime
    conversation_id: str | None = None
    turn: int | None = None
    # How a follow-up was read: {"follow_up", "query" (as searched), "carried_terms", "moved"}; None alone.
    context: dict[str, Any] | None = None


class FeedbackIn(BaseModel):
    """Whether an answer helped, and why; a thumbs down needs its reason."""

    model_config = ConfigDict(extra="forbid")
    helpful: bool
    reason: str = Field(default="", max_length=1000)


class FeedbackOut(BaseModel):
    """One person's rating of an answer."""

    user: str
    helpful: bool
    reason: str
    version: int
    created_at: datetime


class RecordDetail(RecordOut):
    """A record with its versions, reviews and the assistant's full output contract."""

    versions: list[VersionOut]
    reviews: list[ReviewOut]
    answer: dict[str, Any]
    settings: dict[str, Any]
    # Ratings: every reader's for reviewers and evaluators, only your own otherwise.
    feedback: list[FeedbackOut] = []
    helpful: int = 0
    unhelpful: int = 0


class FeedbackSummary(BaseModel):
    """Readers' ratings across answers, for the Evaluations page and the review desk."""

    helpful: int
    unhelpful: int
    answers_rated: int
    recent_unhelpful: list[dict[str, Any]]


class EditIn(BaseModel):
    """A new text for an answer; [n] markers cite the answer's sources."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=20000)
    note: str = Field(default="", max_length=2000)
    version: int = Field(ge=1, le=1_000_000, description="The version you read; 409 if it is no longer current")


class ApproveIn(BaseModel):
    """An approval."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=2000)
    acknowledge_unsupported: bool = False
    version: int = Field(ge=1, le=1_000_000, description="The version you read; 409 if it is no longer current")


class RejectIn(BaseModel):
    """A rejection, with its reason."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=2000)
    version: int = Field(ge=1, le=1_000_000, description="The version you read; 409 if it is no longer current")


class ExportIn(BaseModel):
    """Approved answers to export as one drafted response."""

    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=200, description="The answers, in the order they are exported")
    format: Literal["markdown", "docx"] = "markdown"
    title: str = Field(default="Drafted response", min_length=1, max_length=200)
    # "client": the response as sent, without approvals or internal file names; "internal": with them.
    version: Literal["internal", "client"] = "internal"
    introduction: str = Field(default="", max_length=10_000, description="The consultant's own opening text")
    headings: dict[str, Annotated[str, StringConstraints(min_length=1, max_length=300)]] = Field(
        default_factory=dict, max_length=200, description="Answer id -> its heading (the question by default)"
    )


class DocumentOut(BaseModel):
    """An indexed document."""

    document_id: str
    file: str
    title: str
    issuing_body: str
    jurisdiction: str = ""
    doc_type: str
    status: str
    year: int | None
    source: str = ""
    pages: int
    chunks: int
    # The fields an admin set, which every later version of the file keeps.
    edited: list[str] = []


class DocumentEditIn(BaseModel):
    """An admin's correction of what the catalog says about a document; absent fields are left as they are."""

    model_config = ConfigDict(extra="forbid")
    title: str | None = Field(None, min_length=1, max_length=300, pattern=r"\S")
    issuing_body: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S")
    jurisdiction: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S")
    doc_type: str | None = Field(None, min_length=1, max_length=100, pattern=r"\S")
    status: Literal["final", "draft", "superseded", "unknown"] | None = None
    year: int | None = Field(None, ge=1900, le=2100)
    source: str | None = Field(None, min_length=1, max_length=1000, pattern=r"\S")


class MarkOut(BaseModel):
    """One cited quote on the page: its spans in the page's text and its boxes on the rendered page."""

    n: int | None = Field(None, description="The citation's number in the answer; none for a quote asked for directly")
    quote: str
    spans: list[tuple[int, int]] = Field(description="[start, end) character offsets in `text`")
    boxes: list[tuple[float, float, float, float]] = Field(
        description="left, top, right, bottom as fractions of the page image; empty when not located on the image"
    )
    found: Literal["exact", "part", "fuzzy", "not found"] = Field(
        description="How the quote was found on the page image: whole, the part on this page, or approximately"
    )


class PageOut(BaseModel):
    """One page of a document, with the character spans to highlight and, for a PDF, its rendered image."""

    document_id: str
    file: str
    title: str
    page: int
    pages: int
    # "§4.2 Deviations" for a Word section, "p. 3 (OCR)" for a scanned page, "p. 3" otherwise.
    label: str = ""
    text: str
    highlights: list[tuple[int, int]]
    # The page drawn as an image, for a PDF whose indexed copy the library keeps; else why not, in words.
    image: str | None = None
    image_note: str = ""
    marks: list[MarkOut] = []
    # For a citation of a version since replaced: that this is the current version.
    note: str = ""


class JobOut(BaseModel):
    """A background job and how far it has got."""

    id: str
    kind: str
    status: str
    done: int
    total: int
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class UserIn(BaseModel):
    """A new user."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=120, pattern=r"^[\w.@ -]+$")
    role: Role


class UserOut(BaseModel):
    """A user (never their token)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: str
    active: bool
    created_at: datetime


class SessionOut(UserOut):
    """The signed-in user; `provisional`: a reviewer whose token an admin issued, to exchange before signing off."""

    provisional: bool


class TokenOut(BaseModel):
    """A token, shown once."""

    user: UserOut
    token: str


class EvalIn(BaseModel):
    """An evaluation run to start."""

    model_config = ConfigDict(extra="forbid")
    set: Literal["bundled-dev", "bundled-test"]
    resamples: int = Field(default=1000, ge=100, le=5000)


class ChainOut(BaseModel):
    """The audit chain check."""

    ok: bool
    entries: int
    first_bad: int | None
    problem: str


class ConversationOut(BaseModel):
    """A conversation as the sidebar lists it."""

    id: str
    title: str
    owner: str
    created_at: datetime
    updated_at: datetime
    turns: int
    last_question: str
    preview: str


class ConversationDetail(ConversationOut):
    """A conversation with its turns, each an answer record."""

    records: list[RecordOut]


class ConversationEdit(BaseModel):
    """A new title."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=200)
