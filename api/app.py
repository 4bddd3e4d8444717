"""The FastAPI app: routes, the one mapping from domain errors to status codes, health, and the web UI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.desk import Desk
from api.errors import Forbidden, RateLimited, Unauthorized, status_of
from api.guard import RequestGuard
from api.routes import admin, ask, conversations, documents, evals, records
from ingest.errors import RegassistError

STATIC = Path(__file__).parent / "static"


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _error(e: Any) -> dict[str, str]:
    if e.get("type") == "json_invalid":
        where = e.get("loc", ("body", 0))[-1]
        reason = (e.get("ctx") or {}).get("error", "malformed JSON")
        return {"field": "body", "message": f"malformed JSON at character {where} ({reason})"}
    return {"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))}


def create_app(desk: Desk, close_on_shutdown: bool = True) -> FastAPI:
    """The service over a desk that the caller has built (and started)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            desk.close()

    app = FastAPI(
        title="regassist",
        version="0.1.0",
        description="Cited answers from regulatory guidance, reviewed by people before anyone relies on them.",
        lifespan=lifespan,
    )
    app.state.desk = desk

    @app.exception_handler(RegassistError)
    async def domain_error(request: Request, exc: RegassistError) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        who = request.scope.get("state", {}).get("principal")
        if isinstance(exc, Forbidden) and who is not None:
            await run_in_threadpool(desk.audit_denied, who, request.method, request.url.path, str(exc))
        return JSONResponse({"error": str(exc)}, status_code=status_of(exc), headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        # 408 and 413 from the guard while a body streams: the rest of the body is never read, so close.
        headers = {"Connection": "close"} if exc.status_code in (408, 413) else {}
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        detail = [_error(e) for e in errors]
        message = f"{detail[0]['field']}: {detail[0]['message']}" if detail else "invalid request"
        return JSONResponse({"error": message, "detail": detail}, status_code=422)

    for module in (ask, conversations, records, documents, admin, evals):
        app.include_router(module.router)
    app.add_middleware(RequestGuard, desk=desk)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness: database reachable, index loaded and not empty")
    def readyz() -> JSONResponse:
        checks: dict[str, Any] = {}
        try:
            with desk.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:  # readiness reports any failure rather than raising it
            checks["database"] = f"error: {exc}"
        docs = len(desk.index.catalog.documents())
        checks["documents"] = docs
        checks["jobs_pending"] = desk.jobs.unfinished()
        ready = checks["database"] == "ok" and docs > 0
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    return app
