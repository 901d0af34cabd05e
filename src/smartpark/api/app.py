"""The FastAPI application: routes, problem details, health, the dashboard."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from smartpark import __version__, web
from smartpark.api import admin, health, live, park, problems, routes, series
from smartpark.api.deps import Caller
from smartpark.api.limits import UserLimiter
from smartpark.config import Settings, get_settings
from smartpark.db import make_export_engine
from smartpark.ingestion.stats import IngestStats


def create_app(
    engine: Engine, ingest_stats: IngestStats | None = None, *, settings: Settings | None = None
) -> FastAPI:
    """The operator API and dashboard with requests on `engine` (the API's own pool, see
    `make_api_engine`), each CSV export on a connection of its own, and the in-process
    ingestor's counters."""
    settings = settings or get_settings()
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
    app.state.settings = settings
    app.state.export_engine = make_export_engine(
        engine.url.render_as_string(hide_password=False), settings
    )
    # Live streams and exports are counted apart: open dashboards do not stop an export.
    per_user = settings.api_max_streams_per_user
    app.state.streams = UserLimiter(per_user, "live streams")
    app.state.exports = UserLimiter(per_user, "CSV exports")
    problems.install(app)
    for module in (routes, park, series, live, admin, health):
        app.include_router(module.router)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(_: Caller) -> dict[str, Any]:
        """The OpenAPI document (authenticated)."""
        return app.openapi()

    web.install(app)
    return app
