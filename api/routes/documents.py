"""Documents: list, upload (ingested by the worker), remove, and pages for the source viewer: the page's text, and
for a PDF the page drawn as an image with every cited quote boxed on it."""

from __future__ import annotations

import bisect
import itertools
import json
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from rapidfuzz import fuzz
from sqlalchemy import select

from api import records
from api.audit import append
from api.deps import DeskDep, DocAdmin, DocReader, SessionDep, UserDep
from api.desk import Desk
from api.errors import BadInput, Conflict, TooLarge, UnsupportedType
from api.jobs import UNFINISHED
from api.models import Job
from api.pages import Located, locate
from api.schemas import DocumentEditIn, DocumentOut, JobOut, MarkOut, PageOut
from api.views import job_out
from ingest.catalog import Row
from ingest.chunking import document_id
from ingest.errors import NotFound
from ingest.manifest import MANIFEST_NAME

router = APIRouter(prefix="/api", tags=["documents"])

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
TYPES = {
    ".pdf": ("application/pdf",),
    ".docx": (DOCX_TYPE,),
    ".html": ("text/html",),
    ".htm": ("text/html",),
    ".txt": ("text/plain",),
    ".md": ("text/markdown", "text/plain"),
}
_SAFE_NAME = re.compile(r"^[\w][\w .()\-]{0,150}\.(pdf|docx|html?|txt|md)$", re.IGNORECASE)
_BODY = {
    "required": True,
    "content": {
        t: {"schema": {"type": "string", "format": "binary"}}
        for t in ("application/pdf", DOCX_TYPE, "text/html", "text/plain", "text/markdown")
    },
}


@router.get("/documents", response_model=list[DocumentOut], summary="Indexed documents")
def documents(desk: DeskDep, _who: DocReader) -> list[DocumentOut]:
    return [
        DocumentOut(
            document_id=r["document_id"],
            file=r["file"],
            title=r["title"],
            issuing_body=r["issuing_body"],
            jurisdiction=r["jurisdiction"],
            doc_type=r["doc_type"],
            status=r["status"],
            year=r["year"],
            source=r["source"],
            pages=r["pages"],
            chunks=r["chunks"],
            edited=sorted(desk.index.catalog.edits_for(r["file"])),
        )
        for r in desk.index.catalog.documents()
    ]


EDITABLE = ("title", "issuing_body", "jurisdiction", "doc_type", "status", "year", "source")


@router.patch(
    "/documents/{document_id}", status_code=202, response_model=JobOut, summary="Correct a document's metadata"
)
def edit_document(document_id: str, body: DocumentEditIn, desk: DeskDep, session: SessionDep, who: DocAdmin) -> JobOut:
    """The catalog's title, issuing body, jurisdiction, type, status, year and source of a document, as an
    admin corrects them. The document is indexed again from its kept original (its title is part of what is
    embedded and searched), and the edit is kept for every later version of the file; audited."""
    catalog = desk.index.catalog
    row = catalog.document(document_id)
    if row is None:
        raise NotFound(f"No document with id '{document_id}' (it may have been re-ingested or removed)")
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise BadInput(f"Nothing to change: give one or more of {', '.join(EDITABLE)}")
    if "year" in fields and fields["year"] is None:
        pass  # "year": null clears it
    elif any(v is None for v in fields.values()):
        raise BadInput(f"{next(k for k, v in fields.items() if v is None)}: give a value (only year may be cleared)")
    original = desk.originals.path(row["file"], document_id, int(row["size_bytes"]))
    if original is None:
        raise Conflict(
            f"{row['file']}: the indexed copy is not in the library's folders, so it cannot be indexed again "
            "with the new metadata; upload the file again with the corrected fields"
        )
    before = {k: row[k] for k in fields}
    meta = {k: row[k] for k in (*EDITABLE, "licence")}
    job = desk.jobs.submit(
        "ingest",
        who.id,
        {"paths": [str(original)], "file": row["file"], "force": [row["file"]], "meta": meta, "edits": fields},
    )
    append(
        desk.db,
        session,
        who.id,
        who.name,
        "document.edit",
        row["file"],
        {"document_id": document_id, "before": before, "after": fields, "job": job.id},
    )
    return job_out(job)


@router.post(
    "/documents",
    status_code=202,
    response_model=JobOut,
    summary="Upload a PDF (scans are OCRed), Word (.docx), HTML, text or Markdown file as the raw request body; "
    "it is ingested in the background",
    openapi_extra={"requestBody": _BODY},
)
async def upload(
    who: DocAdmin,
    request: Request,
    desk: DeskDep,
    filename: str = Query(..., min_length=1, max_length=160, description="The file's name, e.g. annex11.pdf"),
    title: str | None = Query(None, min_length=1, max_length=300),
    issuing_body: str | None = Query(None, min_length=1, max_length=100, description="EMA, FDA, MHRA, …"),
    status: Literal["draft", "final", "superseded"] | None = None,
    year: int | None = Query(None, ge=1900, le=2100),
) -> JobOut:
    name = Path(filename).name
    if name != filename or not _SAFE_NAME.match(name):
        raise BadInput(f"filename: '{filename}' must be a plain file name ending in {', '.join(TYPES)}")
    suffix = Path(name).suffix.lower()
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in TYPES[suffix]:
        raise UnsupportedType(f"content-type: {ctype or 'none'} does not fit {name}; send {TYPES[suffix][0]}")
    limit = desk.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"{name}: {int(declared):,} bytes, more than the limit of {limit:,}")
    incoming = desk.settings.uploads_dir / ".incoming" / uuid.uuid4().hex / name
    incoming.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    head = b""
    try:
        with incoming.open("wb") as f:
            async for part in request.stream():
                size += len(part)
                if size > limit:
                    raise TooLarge(f"{name}: more than the limit of {limit:,} bytes")
                if len(head) < 8:
                    head += part[:8]
                await run_in_threadpool(f.write, part)
        if size == 0:
            raise BadInput(f"{name}: the body is empty")
        if suffix == ".pdf" and not head.startswith(b"%PDF-"):
            raise UnsupportedType(f"{name}: the content is not a PDF (it does not start with %PDF-)")
        if suffix == ".docx" and not head.startswith(b"PK\x03\x04"):
            # A .docx is a zip; an old binary .doc (or anything else) renamed to .docx is refused here.
            raise UnsupportedType(f"{name}: the content is not a Word .docx file (it is not a zip package)")
        twin = desk.index.catalog.document(await run_in_threadpool(lambda: document_id(incoming.read_bytes())))
        if twin is not None and twin["file"] != name:
            raise Conflict(
                f"{name}: the same bytes as {twin['file']}, which is indexed already; upload a changed file, or "
                f"replace {twin['file']} under its own name"
            )
        # A new version keeps the metadata of the one it replaces unless the upload says otherwise; what the
        # form says is kept for the file's later versions, as an edit is.
        given: dict[str, object] = {"title": title, "issuing_body": issuing_body, "status": status, "year": year}
        meta = _metadata(desk, name, given)
        (incoming.parent / MANIFEST_NAME).write_text(json.dumps({"version": 1, "documents": [meta]}))
    except BaseException:
        shutil.rmtree(incoming.parent, ignore_errors=True)
        raise
    edits = {k: v for k, v in given.items() if v is not None}
    job = desk.jobs.submit(
        "ingest",
        who.id,
        {"paths": [str(incoming)], "keep_as": str(desk.settings.uploads_dir / name), "file": name, "edits": edits},
    )
    with desk.db.session() as session:
        append(desk.db, session, who.id, who.name, "upload", name, {"bytes": size, "job": job.id})
        return job_out(session.get(Job, job.id) or job)


def _metadata(desk: Desk, name: str, given: dict[str, object]) -> dict[str, object]:
    """What the catalog says about an upload: the admin's form, else the version it replaces, else plain
    defaults. Never the document's own text: a file headed "(EMA, final)" is not thereby EMA's, or final."""
    row = desk.index.catalog.document_by_file(name)
    meta: dict[str, object] = {
        "title": Path(name).stem.replace("_", " "),
        "issuing_body": "unknown",
        "doc_type": "uploaded document",
        "status": "unknown",
        "source": f"uploaded as {name}",
    }
    if row is not None:
        meta |= {k: row[k] for k in (*EDITABLE, "licence") if row[k] not in (None, "")}
    meta |= {k: v for k, v in given.items() if v is not None}
    return {"file": name, **meta}


@router.delete("/documents/{document_id}", status_code=202, response_model=JobOut, summary="Remove a document")
def remove(document_id: str, desk: DeskDep, session: SessionDep, who: DocAdmin) -> JobOut:
    row = desk.index.catalog.document(document_id)
    if row is None:
        raise NotFound(f"No document with id '{document_id}'")
    job = desk.jobs.submit("remove", who.id, {"document_id": document_id, "file": row["file"]})
    append(desk.db, session, who.id, who.name, "remove", row["file"], {"document_id": document_id, "job": job.id})
    return job_out(job)


# Longer than any stored chunk (200 word pieces); a citation's quote is one sentence or one chunk.
MAX_QUOTE_CHARS = 2000


def highlights(text: str, quote: str) -> list[tuple[int, int]]:
    """Where a quote sits on a page, whitespace-insensitively; for a quote that runs onto the next page,
    the longest leading (or trailing) run of its words that is on this one.

    Linear in page and quote: one search of the quote in the page with whitespace collapsed, and for a
    partial quote a binary search over its length (a prefix that is on the page has every shorter prefix
    on the page too), never a pattern per word.
    """
    words = quote.split()
    if not words:
        return []
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    flat = " ".join(text[a:b] for a, b in spans)
    starts = list(itertools.accumulate((b - a + 1 for a, b in spans[:-1]), initial=0))

    def to_text(p: int) -> int:
        i = bisect.bisect_right(starts, p) - 1
        return spans[i][0] + (p - starts[i])

    def find(lo: int, hi: int) -> tuple[int, int] | None:
        needle = " ".join(words[lo:hi])
        at = flat.find(needle)
        return None if at < 0 else (to_text(at), to_text(at + len(needle) - 1) + 1)

    whole = find(0, len(words))
    if whole:
        return [whole]
    for leading in (True, False):
        lo, hi, best = 4, len(words) - 1, None
        while lo <= hi:
            mid = (lo + hi) // 2
            found = find(0, mid) if leading else find(len(words) - mid, len(words))
            if found:
                best, lo = found, mid + 1
            else:
                hi = mid - 1
        if best:
            return [best]
    return []


def _page_view(
    desk: Desk, row: Row, page: int, quotes: Sequence[tuple[int | None, str]], keep: set[int | None]
) -> PageOut:
    """Page `page` of the live document `row`, with each quote marked in its text and, for a PDF whose
    original the library keeps, boxed on the page image. A quote found nowhere on this page is dropped
    unless its number is in `keep` (the citation being opened, which is then shown as not found here)."""
    catalog = desk.index.catalog
    text = catalog.page_text(row["document_id"], page)
    if text is None:
        raise NotFound(f"{row['file']} has pages 1 to {row['pages']}, not {page}")
    spans = [highlights(text, q) for _, q in quotes]
    wanted = [i for i, (n, _) in enumerate(quotes) if spans[i] or n in keep]
    original = _original(desk, row)
    image, image_note = None, ""
    boxes: list[Located] = [Located() for _ in wanted]
    if isinstance(original, Path):
        image = f"/api/documents/{row['document_id']}/pages/{page}/image"
        boxes = locate(original, page, [quotes[i][1] for i in wanted]).located
    else:
        image_note = original
    return PageOut(
        document_id=row["document_id"],
        file=row["file"],
        title=row["title"],
        page=page,
        pages=row["pages"],
        label=catalog.cite(row["document_id"], page),
        text=text,
        highlights=sorted({s for i in wanted for s in spans[i]}),
        image=image,
        image_note=image_note,
        marks=[
            MarkOut(n=quotes[i][0], quote=quotes[i][1], spans=spans[i], boxes=b.boxes, found=b.how)  # type: ignore[arg-type]
            for i, b in zip(wanted, boxes, strict=True)
        ],
    )


def _original(desk: Desk, row: Row) -> Path | str:
    """The indexed PDF's file, or why the page is shown as text only."""
    if Path(row["file"]).suffix.lower() != ".pdf":
        return ""  # Word, web and text documents have no pages to draw: their text is the document
    path = desk.originals.path(row["file"], row["document_id"], int(row["size_bytes"]))
    if path is None:
        return (
            f"The page image is not available: the indexed copy of {row['file']} is not in the library's "
            "folders, so its extracted text is shown."
        )
    return path


@router.get("/documents/{document_id}/pages/{page}", response_model=PageOut, summary="A page, with a quote located")
def page(
    _who: DocReader,
    document_id: str,
    page: Annotated[int, PathParam(ge=1, le=100_000)],
    desk: DeskDep,
    quote: str = Query("", max_length=MAX_QUOTE_CHARS),
) -> PageOut:
    row = desk.index.catalog.document(document_id)
    if row is None:
        raise NotFound(f"No document with id '{document_id}' (it may have been re-ingested or removed)")
    return _page_view(desk, row, page, [(None, quote)] if quote.strip() else [], set())


@router.get(
    "/documents/{document_id}/pages/{page}/image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
    summary="A PDF page rendered as an image",
)
def page_image(
    _who: DocReader, document_id: str, page: Annotated[int, PathParam(ge=1, le=100_000)], desk: DeskDep
) -> Response:
    row = desk.index.catalog.document(document_id)
    if row is None:
        raise NotFound(f"No document with id '{document_id}' (it may have been re-ingested or removed)")
    if not 1 <= page <= row["pages"]:
        raise NotFound(f"{row['file']} has pages 1 to {row['pages']}, not {page}")
    original = _original(desk, row)
    if not isinstance(original, Path):
        raise NotFound(original or f"{row['file']} is not a PDF: it has no page images, only its text")
    png = desk.page_images.png(original, document_id, page)
    # The id is a hash of the bytes, so a page image never changes under its address.
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400, immutable"})


@router.get(
    "/records/{record_id}/citations/{n}/page",
    response_model=PageOut,
    summary="The page a citation of an answer cites, with every citation of that answer on it marked",
)
def citation_page(
    record_id: str,
    n: Annotated[int, PathParam(ge=1, le=10_000)],
    desk: DeskDep,
    session: SessionDep,
    who: DocReader,
    page: Annotated[int | None, Query(ge=1, le=100_000, description="Another page of the same document")] = None,
) -> PageOut:
    record = records.get(session, who, record_id, reading=True)
    cited = next((c for c in record.citations if c.n == n), None)
    if cited is None:
        raise NotFound(f"Answer '{record_id}' has no citation [{n}]")
    catalog = desk.index.catalog
    row = catalog.document(cited.document_id)
    note = ""
    if row is None:
        row = catalog.document_by_file(cited.file)
        if row is None:
            raise NotFound(f"{cited.file} has been removed from the library since this answer cited it")
        note = (
            f"The version of {cited.file} this answer cited has since been replaced; this is the current version, "
            "with the cited words marked where they, or the closest passage, now appear."
        )
    same = sorted((c for c in record.citations if c.file == cited.file), key=lambda c: c.n)
    if page is None:
        page = cited.page if not note else _closest_page(desk, row, cited.quote)
    if note:
        # Page numbers of the cited version say nothing about the current one: every quote is looked for.
        quotes = [(c.n, c.quote) for c in same]
    else:
        quotes = [(c.n, c.quote) for c in same if c.document_id == row["document_id"] and c.page in (page, page - 1)]
    out = _page_view(desk, row, page, quotes, {n} if page == cited.page or note else set())
    out.note = note
    return out


def _closest_page(desk: Desk, row: Row, quote: str) -> int:
    """The page of the live document where `quote` is, or the page most like it."""
    best, best_score = 1, -1.0
    for number in range(1, int(row["pages"]) + 1):
        text = desk.index.catalog.page_text(row["document_id"], number) or ""
        if highlights(text, quote):
            return number
        score = fuzz.partial_ratio(quote, text)
        if score > best_score:
            best, best_score = number, score
    return best


@router.get("/jobs/{job_id}", response_model=JobOut, summary="A background job's progress")
def job(job_id: str, session: SessionDep, who: UserDep) -> JobOut:
    j = session.get(Job, job_id)
    if j is None or (j.created_by != who.id and who.role != "admin"):
        raise NotFound(f"No job '{job_id}'")
    return job_out(j)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut, summary="Cancel a queued or running job of yours")
def cancel_job(job_id: str, desk: DeskDep, session: SessionDep, who: UserDep) -> JobOut:
    j = session.get(Job, job_id, with_for_update=True)  # a worker finishing it now waits, or is waited for
    if j is None or (j.created_by != who.id and who.role != "admin"):
        raise NotFound(f"No job '{job_id}'")
    if j.kind != "eval":
        raise Conflict("only evaluation runs can be cancelled; an ingest or removal runs to its end")
    if j.status not in UNFINISHED:
        raise Conflict(f"job {job_id} is {j.status} already")
    append(desk.db, session, who.id, who.name, "eval.cancel", job_id, {"was": j.status})
    j.status = "cancelled"
    return job_out(j)


@router.get("/jobs", response_model=list[JobOut], summary="Recent jobs (an admin sees everyone's)")
def jobs(session: SessionDep, who: UserDep, limit: int = Query(50, ge=1, le=500)) -> list[JobOut]:
    q = select(Job).order_by(Job.created_at.desc()).limit(limit)
    if who.role != "admin":
        q = q.where(Job.created_by == who.id)
    return [job_out(j) for j in session.scalars(q)]
