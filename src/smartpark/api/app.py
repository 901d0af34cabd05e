"""The FastAPI application: routes, problem details, health, the dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from smartpark import __version__, web
from smartpark.api import admin, health, live, park, problems, routes, series
from smartpark.api.deps import Caller
from smartpark.ingestion.stats import IngestStats


def create_app(engine: Engine, ingest_stats: IngestStats | None = None) -> FastAPI:
    """The operator API and dashboard on `engine` (with the in-process ingestor's counters)."""
    app = FastAPI(
        title="smartpark",
        version=__version__,
        description="Eco-monitoring of a smart industrial park: devices, readings, checks, "
        "alerts, configuration and green evaluations. Authenticate with "
        "`Authorization: Bearer <token>` (`smartpark users token`) or a session from "
        "POST /api/v1/login. Errors are RFC 9457 problem details.",
        # Nothing but health and login answers without authentication: the schema is served
        # to authenticated callers at /api/v1/openapi.json.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.ingest_stats = ingest_stats
    problems.install(app)
    for module in (routes, park, series, live, admin, health):
        app.include_router(module.router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(_: Caller) -> dict[str, Any]:
        """The OpenAPI document (authenticated)."""
        return app.openapi()

    web.install(app)
    return app
