"""The FastAPI application: routes, problem details, health."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text

from smartpark import __version__
from smartpark.api import problems
from smartpark.api.deps import Caller
from smartpark.api.routes import router
from smartpark.api.series import router as series_router
from smartpark.ingestion.stats import IngestStats
from smartpark.metrics import exposition


def create_app(engine: Engine, ingest_stats: IngestStats | None = None) -> FastAPI:
    """The operator API on `engine` (with the in-process ingestor's counters, if any)."""
    app = FastAPI(
        title="smartpark",
        version=__version__,
        description="Eco-monitoring of a smart industrial park: devices, alerts, evaluations.",
        # Nothing but health and login answers without authentication: the schema is served
        # to authenticated callers at /api/v1/openapi.json.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    problems.install(app)
    app.include_router(router)
    app.include_router(series_router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(_: Caller) -> dict[str, Any]:
        """The OpenAPI document (authenticated)."""
        return app.openapi()

    @app.get("/metrics", tags=["health"], response_class=Response)
    def metrics(_: Caller) -> Response:
        """Prometheus metrics (scrape with an API token as bearer)."""
        return Response(exposition(engine, ingest_stats), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> Any:
        """Readiness: the database answers."""
        try:
            with request.app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means not ready
            return JSONResponse(
                {"status": "unavailable", "database": str(exc)[:200]}, status_code=503
            )
        return {"status": "ready", "database": "ok"}

    return app
