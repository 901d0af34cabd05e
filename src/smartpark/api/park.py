"""`/api/v1` routes behind the dashboard: parks, catalogue, overview, rollups, check series."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query

from smartpark.alerts.service import comment
from smartpark.api.deps import (
    Caller,
    Conn,
    Metrics,
    ParkAdmin,
    When,
    in_park,
    require,
    time_range,
)
from smartpark.api.routes import Limit, Note, own_alert, whole
from smartpark.api.security import Principal
from smartpark.catalogue import load_catalogue
from smartpark.config import get_settings
from smartpark.evaluation.indicators import load_energy_table
from smartpark.storage import dashboard, queries
from smartpark.storage.alerts import get as get_alert

router = APIRouter(prefix="/api/v1")
# The most rows one series response carries; beyond it the client asks for a shorter range.
MAX_SERIES_ROWS = 10_000


def _park(conn: Any, caller: Principal, park: str) -> dict[str, Any]:
    in_park(caller, park)
    row = dashboard.park(conn, park)
    if row is None:
        raise HTTPException(404, f"no park {park!r}")
    return row


_OPEN = {"state": "OPEN", "severity": None, "enterprise": None}


@router.get("/parks", tags=["park"])
def parks(caller: Caller, conn: Conn) -> dict[str, Any]:
    """The parks you may see (one: your own), with their time zone."""
    row = dashboard.park(conn, caller.park)
    return whole([row] if row else [])


@router.get("/metrics-catalogue", tags=["park"])
def metrics_catalogue(caller: Caller) -> dict[str, Any]:
    """Every metric a device may publish, with its canonical unit and kind."""
    del caller
    catalogue = load_catalogue(get_settings().extra_metrics_file)
    items = [
        {"name": m.name, "unit": m.unit, "kind": m.kind, "description": m.description}
        for m in catalogue.values()
    ]
    return whole(sorted(items, key=lambda m: str(m["name"])))


@router.get("/parks/{park}/overview", tags=["park"])
def overview(park: str, caller: Caller, conn: Conn) -> dict[str, Any]:
    """Enterprises with device and alert status, and the newest day's ratios against targets."""
    info = _park(conn, caller, park)
    enterprises = dashboard.enterprise_status(conn, park, caller.enterprise)
    ratios = dashboard.latest_results(conn, park, caller.enterprise, "ratio.%.day")
    return {
        "park": info,
        "enterprises": enterprises,
        "ratios": ratios,
        # Park-level alerts (the park's own ratios and carbon) count too, for park-wide users.
        "open_alerts": queries.alerts(conn, park, caller.enterprise, _OPEN, 1, 0)[1],
        "as_of": datetime.now(UTC),
    }


@router.get("/parks/{park}/rollups", tags=["readings"])
def rollups(
    park: str, caller: Caller, conn: Conn, metric: Metrics, start: When, end: When,
    period: Literal["hour", "day"] = "day",
    enterprise: Annotated[str | None, Query(description="One enterprise; the park if omitted")]
    = None,
) -> dict[str, Any]:  # fmt: skip
    """Hourly (UTC) or daily (park calendar) totals of the enterprise's or park's devices:
    counter consumption and valid gauge means, with each metric's unit and, for energy
    carriers, its standard-coal coefficient (GB/T 2589-2020)."""
    info = _park(conn, caller, park)
    first, last = time_range(start, end)
    names = sorted(set(metric))
    catalogue = load_catalogue(get_settings().extra_metrics_file)
    if unknown := [m for m in names if m not in catalogue]:
        raise HTTPException(422, f"unknown metric(s): {', '.join(unknown)}")
    bounds: tuple[date, date] | tuple[datetime, datetime] = (first, last)
    buckets = (last - first).total_seconds() / 3600
    if period == "day":
        zone = ZoneInfo(info["timezone"])
        bounds = (first.astimezone(zone).date(), last.astimezone(zone).date())
        buckets = (bounds[1] - bounds[0]).days
    if buckets * len(names) > MAX_SERIES_ROWS:
        raise HTTPException(422, f"more than {MAX_SERIES_ROWS} points: shorten the range")
    items = dashboard.rollup_series(
        conn, park, caller.enterprise, enterprise, names, period, *bounds
    )
    carriers = load_energy_table().carriers
    units = {
        m: {"unit": catalogue[m].unit, "kind": catalogue[m].kind}
        | ({"kgce_per_unit": carriers[m].kgce_per_unit} if m in carriers else {})
        for m in names
    }
    return {"period": period, "timezone": info["timezone"], "metrics": units, "items": items}


@router.get("/parks/{park}/check-series", tags=["alerts"])
def check_series(
    park: str, caller: Caller, conn: Conn, start: When, end: When,
    check: Annotated[str, Query(min_length=1, description="Check name or prefix, e.g. "
                                "concentration.hourly. or permit.")],
    enterprise: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Verdicts over time (value against limit) for charts, oldest first."""
    _park(conn, caller, park)
    first, last = time_range(start, end)
    pattern = check.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    items = dashboard.check_series(
        conn, park, caller.enterprise, pattern, enterprise, first, last, MAX_SERIES_ROWS + 1
    )
    if len(items) > MAX_SERIES_ROWS:
        raise HTTPException(422, f"more than {MAX_SERIES_ROWS} results: shorten the range")
    return whole(items)


@router.get("/parks/{park}/devices/{device}/quality-events", tags=["park"])
def quality_events(
    park: str, device: str, caller: Caller, conn: Conn, limit: Limit = 100
) -> dict[str, Any]:
    """A device's sequence gaps (with late fills), repeats and restarts, newest first."""
    _park(conn, caller, park)
    items = dashboard.quality_events(conn, park, caller.enterprise, device, limit)
    if items is None:
        raise HTTPException(404, f"no device {device!r}")
    return whole(items)


@router.get("/alerts/{alert_id}", tags=["alerts"])
def alert(alert_id: int, caller: Caller, conn: Conn) -> dict[str, Any]:
    """One alert with its whole history."""
    own_alert(conn, caller, alert_id)
    row = get_alert(conn, alert_id, lock=False)
    assert row is not None  # own_alert has seen it
    return row | {"history": dashboard.alert_history(conn, alert_id)}


@router.post("/alerts/{alert_id}/comment", tags=["alerts"], status_code=201)
def comment_alert(
    alert_id: int, body: Note, conn: Conn,
    caller: Annotated[Principal, Depends(require("operator"))],
) -> dict[str, Any]:  # fmt: skip
    """Add a note to an alert's history without changing its state (operator)."""
    own_alert(conn, caller, alert_id)
    if not body.note:
        raise HTTPException(422, "note: a comment needs text")
    comment(conn, alert_id, caller.username, body.note, datetime.now(UTC))
    return {"id": alert_id, "history": dashboard.alert_history(conn, alert_id)}


@router.get("/dead-letters/{dead_letter_id}", tags=["ingestion"])
def dead_letter(dead_letter_id: int, conn: Conn, caller: ParkAdmin) -> dict[str, Any]:
    """One dead letter: topic, reasons, the readings they name and the raw payload (admin)."""
    row = queries.dead_letter(conn, caller.park, dead_letter_id)
    if row is None:
        raise HTTPException(404, f"no dead letter {dead_letter_id}")
    return row
