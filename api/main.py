"""The FastAPI app: ``create_app()`` builds it; ``assistant serve`` runs it with uvicorn.

The app opens the database and applies migrations when it starts. Library errors become HTTP
codes here and only here: not found 404, media that is not media 415, other bad input 422, a
request body over the limit 413.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from api.deps import NotAuthenticatedError
from api.docs import add_docs
from api.routes import (
    auth,
    calls,
    customers,
    followups,
    insights,
    items,
    jobs,
    pages,
    search,
    users,
    webhooks,
)
from api.upload import UploadError, remove_stale_uploads
from assistant import __version__
from assistant.errors import (
    AssistantError,
    InputError,
    ModelError,
    NotMediaError,
)
from assistant.jobs import JobQueue, get_queue
from assistant.settings import Settings, get_settings
from assistant.store import ConflictError, Database, ForbiddenError, NotFoundError


def status_for(exc: AssistantError) -> int:
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ForbiddenError):
        return 403
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, NotMediaError):
        return 415
    if isinstance(exc, InputError):
        return 422
    if isinstance(exc, ModelError):
        return 503
    return 500


def create_app(
    settings: Settings | None = None, db: Database | None = None, queue: JobQueue | None = None
) -> FastAPI:
    """The app; ``settings``, ``db`` and ``queue`` default to the configured ones."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = db is None
        database = db or Database(settings.resolved_database_url)
        database.migrate()
        settings.recordings_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_uploads(settings.data_dir / "uploads")
        app.state.db = database
        yield
        if own:
            database.dispose()

    app = FastAPI(
        title="Sales-call assistant",
        version=__version__,
        description="Upload recorded sales calls; get transcripts, speakers, action items, "
        "customer needs and objections, each grounded in a quote and a moment.",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from the app's own files
        redoc_url=None,
    )
    add_docs(app)
    app.state.settings = settings
    app.state.queue = queue or get_queue(settings.queue, settings)
    if db is not None:
        app.state.db = db

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))

    @app.exception_handler(UploadError)
    async def upload_error(request: Request, exc: UploadError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(NotAuthenticatedError)
    async def not_authenticated(request: Request, exc: NotAuthenticatedError) -> JSONResponse:
        return JSONResponse(
            {
                "detail": "Not signed in: send `Authorization: Bearer <token>` (see `assistant "
                "users create`) or open the login link `assistant serve` printed"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    for module in (
        calls,
        jobs,
        items,
        insights,
        search,
        users,
        webhooks,
        auth,
        customers,
        followups,
    ):
        app.include_router(module.router)
    app.include_router(customers.calls_router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.WEB_DIR / "static"), name="static")
    return app
