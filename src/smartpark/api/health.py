"""Health: liveness, readiness (database, broker, scheduler) and Prometheus metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.exc import SQLAlchemyError

from smartpark.api.deps import Caller
from smartpark.config import get_settings
from smartpark.metrics import exposition
from smartpark.storage.health import heartbeats

router = APIRouter(tags=["health"])
# A component is stale after this many missed heartbeats.
MISSED_BEATS = 3


def components(
    beats: list[dict[str, Any]], now: datetime, stale_after: timedelta
) -> dict[str, Any]:
    """The broker's and the scheduler's state from the components' heartbeats."""
    fresh = [b for b in beats if now - b["beat_at"] <= stale_after]
    ingestors = [b for b in fresh if b["kind"] == "ingestor"]
    schedulers = [b for b in fresh if b["kind"] == "scheduler"]
    # An ingestor whose writer thread died is about to exit (a supervisor restarts it); until
    # it does, it receives nothing it can store, so it does not count as connected.
    connected = [
        b
        for b in ingestors
        if b["state"].get("broker_connected") and b["state"].get("writer_alive", True)
    ]
    writer_failed = any(not b["state"].get("writer_alive", True) for b in ingestors)
    broker = (
        "connected" if connected
        else "writer failed" if writer_failed
        else "disconnected" if ingestors
        else "no ingestor reporting"
    )  # fmt: skip
    running = [b for b in schedulers if b["state"].get("running")]
    scheduler = "running" if running else "stopped" if schedulers else "no scheduler reporting"

    def show(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"instance": b["instance"], "beat_at": b["beat_at"], **b["state"]} for b in items]

    return {
        "broker": {"state": broker, "ingestors": show(ingestors)},
        "scheduler": {"state": scheduler, "schedulers": show(schedulers)},
        "ok": bool(connected) and bool(running),
    }


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The database does not answer"}})
def readyz(request: Request) -> Any:
    """Readiness: 503 when the database does not answer (nothing can be served); otherwise
    `ready`, or `degraded` with the broker's and scheduler's state when either is not well."""
    try:
        with request.app.state.engine.connect() as conn:
            beats = heartbeats(conn)
    except SQLAlchemyError as exc:
        body = {"status": "unavailable", "database": str(exc).splitlines()[0][:200]}
        return JSONResponse(body, status_code=503)
    interval = timedelta(seconds=get_settings().heartbeat_interval)
    state = components(beats, datetime.now(UTC), interval * MISSED_BEATS)
    ok = state.pop("ok")
    return {"status": "ready" if ok else "degraded", "database": "ok", **state}


@router.get("/metrics", response_class=Response)
def metrics(request: Request, _: Caller) -> Response:
    """Prometheus metrics (scrape with an API token as bearer)."""
    body = exposition(request.app.state.engine, request.app.state.ingest_stats)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
