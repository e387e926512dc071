"""The HTTP service: ``sparkle-motion serve`` (FastAPI), and the studio page it serves.

Routes are thin: they check the caller (an optional bearer token, a per-client token
bucket on submissions), turn a request into the same calls the CLI makes
(``generate_plan``, ``validate_plan``, ``production_agent.queue_run``, the store), and give
back plain dicts from views.py. Runs execute in the injected :class:`RunPool` (a child
process each); their progress is read back from the store as numbered Server-Sent Events,
so a stream resumes with ``Last-Event-ID`` after a reconnect or a restart. Every error is
one of the project's typed errors as JSON (``code``, ``message``, ``field``) with its HTTP
status; nothing answers with a traceback.
"""

from __future__ import annotations

import asyncio
import math
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from sparkle_motion import __version__
from sparkle_motion.config import Settings, get_settings
from sparkle_motion.db.store import Store, get_store
from sparkle_motion.errors import (
    AuthError,
    ConfigError,
    NotFoundError,
    PlanSchemaError,
    RateLimitError,
    RunStateError,
    SparkleError,
)
from sparkle_motion.service import views
from sparkle_motion.service.events import TERMINAL_RUN_STATES, EventHub
from sparkle_motion.service.pool import RunPool
from sparkle_motion.service.schemas import ReviewDecision, RunRequest
from sparkle_motion.utils.rate_limiter import TokenBucket
from sparkle_motion.workspace import Workspace, get_workspace

STATIC = Path(__file__).parent / "static"
TOKEN_ENV = "SPARKLE_API_TOKEN"
_IDLE_S = 2.0  # how often an idle event stream checks that its client is still there
_DB_MAX = 2**63 - 1  # ids and sequence numbers are SQLite integers: larger ones are no one's
DbId = Annotated[int, PathParam(ge=0, le=_DB_MAX)]


_DRY_RESPONSE: dict[int | str, Any] = {
    200: {"description": "dry: the plan, its steps and estimates; nothing is queued",
          "content": {"application/json": {"schema": {"type": "object"}}}}
}  # fmt: skip


_SSE_EVENT = {  # one Server-Sent Event; ``data`` is the JSON of a progress or status record
    "type": "object",
    "properties": {"id": {"type": "string"}, "event": {"enum": ["progress", "status"]},
                   "data": {"type": "string", "contentMediaType": "application/json"}},
    "required": ["event", "data"],
}  # fmt: skip


def _declared(media_type: str, what: str, schema: dict | None = None) -> dict[int | str, Any]:
    """OpenAPI for a route that answers with something other than JSON."""
    content = {media_type: {"schema": schema or {"type": "string"}}}
    return {200: {"description": what, "content": content}}


def _check_providers(overrides: dict[str, str] | None) -> None:
    """A request's per-tool overrides name known tools and profiles (a 422 naming the
    field, before anything is planned; the server's own config is not the caller's fault)."""
    from sparkle_motion.providers import PROFILES, TOOLS

    for tool, value in (overrides or {}).items():
        if tool not in TOOLS or value not in PROFILES:
            raise PlanSchemaError(
                f"providers: {tool}={value} is not a known tool/profile",
                field=f"providers.{tool}",
                hint=f"tools: {', '.join(sorted(TOOLS))}; profiles: {', '.join(PROFILES)}",
            )


def _event_id(header: str) -> int:
    """A ``Last-Event-ID`` header's sequence number (0, from the start, when it is none)."""
    header = header.strip()
    if not (header.isascii() and header.isdigit()) or int(header) > _DB_MAX:
        return 0
    return int(header)


class _Clients:
    """One token bucket per client (its token, or its address), for submissions."""

    def __init__(self, rate_per_min: float, burst: int) -> None:
        self.rate, self.burst = rate_per_min, burst
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, client: str) -> None:
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = self._buckets.setdefault(client, TokenBucket(self.rate, self.burst))
        try:
            bucket.acquire(queue_allowed=False)
        except RateLimitError as exc:
            wait = getattr(exc, "retry_after_s", None) or 1.0
            raise RateLimitError(
                f"too many submissions from {client}: at most {self.burst} at once and "
                f"{self.rate:g} a minute",
                hint=f"retry in {math.ceil(wait)} s",
                details={"retry_after_s": math.ceil(wait)},
            ) from None


def _error_response(exc: SparkleError) -> JSONResponse:
    body = {
        "error": {
            "code": exc.code,
            "message": exc.message,
            "field": exc.field,
            "hint": exc.hint,
            "type": type(exc).__name__,
        }
    }
    headers = {}
    retry = exc.details.get("retry_after_s")
    if retry is not None:
        headers["Retry-After"] = str(max(1, math.ceil(float(retry))))
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def caller(
    request: Request, token: Annotated[str | None, Query(include_in_schema=False)] = None
) -> str:
    """The bearer token check (the header, or ``?token=`` for EventSource and media
    elements, which cannot send headers); returns the client's key for rate limiting."""
    wanted: str | None = request.app.state.token
    if wanted:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else token or ""
        if not secrets.compare_digest(given.encode(), wanted.encode()):
            raise AuthError(
                "this server needs a token: send 'Authorization: Bearer <token>'",
                hint=f"the token is the server's {TOKEN_ENV}",
            )
        return "token"
    return "addr:" + (request.client.host if request.client else "?")


Caller = Annotated[str, Depends(caller)]


def submitting(request: Request, client: Caller) -> str:
    """A submission (POST, PUT) takes a token from the client's bucket (429 when empty)."""
    request.app.state.clients.take(client)
    return client


Submitter = Annotated[str, Depends(submitting)]


def create_app(
    settings: Settings | None = None,
    *,
    pool: RunPool | None = None,
    workers: int = 1,
    token: str | None = None,
) -> FastAPI:
    """The service app. ``pool`` runs the runs (default: child processes, ``workers`` at a
    time); ``token`` (default ``SPARKLE_API_TOKEN``) guards every API route when set."""
    settings = settings or get_settings()
    ws: Workspace = get_workspace(settings).ensure()
    store: Store = get_store(settings)
    pool = pool or RunPool(store, settings, ws, workers=workers)
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    clients = _Clients(settings.api_rate_per_min, settings.api_burst)

    hub = EventHub(store)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.start()
        watcher = asyncio.create_task(hub.run())
        try:
            yield
        finally:
            watcher.cancel()
            pool.stop()

    app = FastAPI(
        title="Sparkle Motion",
        version=__version__,
        description="Turn one sentence into a finished short movie: submit, watch, play, "
        "edit a line and re-run, review what QA held back.",
        lifespan=lifespan,
    )
    app.state.pool, app.state.store, app.state.settings = pool, store, settings
    app.state.token, app.state.clients = token, clients

    @app.exception_handler(SparkleError)
    async def sparkle_error(request: Request, exc: SparkleError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # a bug, not the caller's fault: one line, never a traceback (the log has it)
        import logging

        logging.getLogger("sparkle_motion.service").exception("unexpected error")
        err = SparkleError(f"{request.method} {request.url.path} failed: {type(exc).__name__}")
        err.code = "internal_error"  # type: ignore[misc]
        return _error_response(err)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = _field(tuple(first.get("loc") or ()))
        message = str(first.get("msg") or "invalid request")
        return _error_response(PlanSchemaError(message, field=field))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        err = SparkleError(str(exc.detail))
        err.code, err.http_status = "http_error", exc.status_code  # type: ignore[misc]
        if exc.status_code == 404:
            err = NotFoundError(f"nothing at {request.url.path}")
        return _error_response(err)

    def run_row(run_id: str) -> dict[str, Any]:
        row = store.get_run(run_id)
        if row is None:
            raise NotFoundError(f"no run {run_id!r} (see GET /runs)", field="run_id")
        return row

    # -------------------------------------------------------------------- page

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -------------------------------------------------------------------- runs

    def _queue(validation: Any, profile: str | None, providers: dict | None) -> dict:
        from sparkle_motion.production_agent import queue_run

        with pool.admission(len(validation.plan.steps)) as admit:
            run_id, _ = queue_run(
                validation, profile=profile, providers=providers, settings=settings
            )
            admit(run_id)
        return {"id": run_id, "status": "queued"}

    @app.post("/runs", status_code=202, tags=["runs"], responses=_DRY_RESPONSE)
    def submit_run(request: RunRequest, client: Submitter) -> Any:
        """Submit an idea (planned first) or a plan; ``dry`` only validates and estimates."""
        from sparkle_motion.production_agent import execute_plan
        from sparkle_motion.validation import validate_plan

        _check_providers(request.providers)
        source: Any = request.plan
        if request.idea is not None:
            from sparkle_motion.script_agent import generate_plan

            try:
                source = generate_plan(request.idea, model=request.model, settings=settings)
            except ConfigError as exc:  # the caller's model name, not this server's config
                if request.model is None:
                    raise
                raise PlanSchemaError(exc.message, field="model", hint=exc.hint) from None
        profile = request.profile or settings.profile
        validation = validate_plan(source, settings=settings, profile=profile)
        if request.dry:
            report = execute_plan(
                validation, mode="dry", profile=profile, providers=request.providers,
                settings=settings,
            )  # fmt: skip
            return JSONResponse(
                {"id": None, "dry": True, "plan": validation.plan.to_json_dict(),
                 **report.model_dump(mode="json")}  # type: ignore[union-attr]
            )  # fmt: skip
        return _queue(validation, profile, request.providers)

    @app.get("/runs", tags=["runs"])
    def list_runs(
        client: Caller, limit: Annotated[int, Query(ge=1, le=200)] = 50
    ) -> dict[str, Any]:
        """Recent runs, newest first."""
        return {"runs": [views.run_summary(r, settings) for r in store.list_runs(limit)]}

    @app.get("/runs/{run_id}", tags=["runs"])
    def get_run(run_id: str, client: Caller) -> dict[str, Any]:
        """A run: its steps in plan order, what is happening, what it made."""
        return views.run_detail(store, settings, ws, run_row(run_id))

    @app.get("/runs/{run_id}/plan", tags=["runs"])
    def get_plan(run_id: str, client: Caller) -> dict[str, Any]:
        """The run's plan, to edit and PUT back."""
        return views.saved_plan(run_row(run_id))

    @app.put("/runs/{run_id}/plan", status_code=202, tags=["runs"])
    def put_plan(
        run_id: str, plan: Annotated[dict[str, Any], Body()], client: Submitter
    ) -> dict[str, Any]:
        """Run an edited plan: a new run with the same profile; only what changed is redone."""
        import json

        from sparkle_motion.validation import validate_plan

        saved = json.loads(run_row(run_id)["plan_json"])
        validation = validate_plan(plan, settings=settings, profile=saved["profile"])
        return _queue(validation, saved["profile"], saved.get("overrides"))

    @app.post("/runs/{run_id}/cancel", status_code=202, tags=["runs"])
    def cancel_run(run_id: str, client: Submitter) -> dict[str, Any]:
        """Stop a queued or running run (resumable later)."""
        run_row(run_id)
        return {"id": run_id, "status": pool.cancel(run_id)}

    @app.post("/runs/{run_id}/resume", status_code=202, tags=["runs"])
    def resume(run_id: str, client: Submitter) -> dict[str, Any]:
        """Queue a stopped run again; it redoes no finished step."""
        run_row(run_id)
        pool.requeue(run_id)
        return {"id": run_id, "status": "queued"}

    @app.get("/runs/{run_id}/events", tags=["runs"], response_class=Response,
             responses=_declared("text/event-stream", "the run's events", _SSE_EVENT))  # fmt: skip
    async def events(
        run_id: str,
        request: Request,
        client: Caller,
        last_event_id: Annotated[int | None, Query(ge=0, le=_DB_MAX)] = None,
    ) -> Any:
        """Server-Sent Events: ``progress`` and ``status``; resumes after ``Last-Event-ID``."""
        from sse_starlette import EventSourceResponse

        run_row(run_id)
        header = request.headers.get("last-event-id", "")
        after = _event_id(header) if header else (last_event_id or 0)
        return EventSourceResponse(_stream(request, run_id, after), ping=15)

    async def _stream(request: Request, run_id: str, after: int) -> AsyncIterator[dict]:
        import json

        while True:
            seen = hub.last
            batch = await asyncio.to_thread(store.run_events, run_id, after)
            for e in batch:
                after = e["seq"]
                data = {k: v for k, v in e.items() if k != "kind"}
                yield {"id": str(e["seq"]), "event": e["kind"], "data": json.dumps(data)}
                if e["kind"] == "status" and e.get("status") in TERMINAL_RUN_STATES:
                    return
            if not batch:
                row = await asyncio.to_thread(store.get_run, run_id)
                ended = row is None or row["status"] in TERMINAL_RUN_STATES
                # a run's row says how it ended before its process has written its last
                # events: wait for that process, then read once more
                if ended and not pool.is_ours(run_id):
                    if await asyncio.to_thread(store.run_events, run_id, after):
                        continue
                    # ended before this stream asked (or its end event is older): say so
                    final = {"seq": after, "status": row["status"] if row else "failed",
                             "summary": (row or {}).get("summary") or ""}  # fmt: skip
                    yield {"event": "status", "data": json.dumps(final)}
                    return
                if await request.is_disconnected():
                    return
                await hub.wait(seen, _IDLE_S)

    @app.get("/runs/{run_id}/subtitles.vtt", tags=["runs"], response_class=Response,
             responses=_declared("text/vtt", "WebVTT"))  # fmt: skip
    def subtitles(run_id: str, client: Caller) -> PlainTextResponse:
        """The movie's subtitles as WebVTT (what a browser's <track> reads)."""
        run_row(run_id)
        path = views.subtitles_path(views.read_result(ws, run_id))
        if path is None or not path.is_file():
            raise NotFoundError(f"run {run_id} has no subtitles (yet)", field="run_id")
        text = views.srt_to_vtt(path.read_text(encoding="utf-8", errors="replace"))
        return PlainTextResponse(text, media_type="text/vtt")

    # --------------------------------------------------------------- artifacts

    @app.get("/artifacts/{artifact_id}", tags=["artifacts"], response_class=Response,
             responses=_declared("*/*", "the file, as its media type"))  # fmt: skip
    def artifact(artifact_id: DbId, client: Caller) -> FileResponse:
        """An artifact's file; ``Range`` requests give 206, so a movie seeks."""
        found = views.artifact_file(store, ws, artifact_id)
        if found is None:
            raise NotFoundError(f"no artifact {artifact_id}", field="artifact_id")
        path, media_type = found
        return FileResponse(path, media_type=media_type)

    # ----------------------------------------------------------------- reviews

    @app.get("/reviews", tags=["reviews"])
    def reviews(
        client: Caller,
        status: Annotated[str, Query(pattern="^(pending|approved|rejected|all)$")] = "pending",
    ) -> dict[str, Any]:
        """Shots QA held back for a person (``status=all`` for decided ones too)."""
        where = {} if status == "all" else {"status": status}
        return {"reviews": [views.review(store, r) for r in store.review_requests(**where)]}

    @app.post("/reviews/{review_id}", tags=["reviews"])
    def decide(review_id: DbId, decision: ReviewDecision, client: Submitter) -> dict[str, Any]:
        """Approve (it joins the movie on the next resume or re-run) or reject (it renders
        again with a new seed), with a note."""
        found = store.review_requests(id=review_id)
        if not found:
            raise NotFoundError(f"no review request {review_id}", field="review_id")
        if found[0]["status"] != "pending":
            raise RunStateError(f"review request {review_id} is already {found[0]['status']}")
        resolution = "approved" if decision.decision == "approve" else "rejected"
        store.resolve_review_request(review_id, resolution, decision.note)
        return views.review(store, store.review_requests(id=review_id)[0])

    # ------------------------------------------------------------------- other

    @app.get("/voices", tags=["reference"])
    def voices(client: Caller) -> dict[str, Any]:
        """The narrators a plan can name (``voice: emma``)."""
        from sparkle_motion.voices import list_available_voices

        return {"voices": [v.model_dump(mode="json") for v in list_available_voices()]}

    @app.get("/schema", tags=["reference"])
    def schema(client: Caller) -> dict[str, Any]:
        """The MoviePlan JSON Schema."""
        from sparkle_motion.types import MoviePlan

        return MoviePlan.model_json_schema()

    @app.get("/health", tags=["reference"])
    def health() -> dict[str, Any]:
        """Liveness, and how busy the pool is."""
        return {"ok": True, "version": __version__, "workers": pool.workers, **pool.counts()}

    return app
