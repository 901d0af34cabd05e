"""`/api/v1/parks/{park}/readings`: raw or bucketed series with a point cap, and CSV export."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse

from smartpark.api.deps import Caller, Conn, Metrics, StreamingCaller, When, in_park, time_range
from smartpark.api.export import csv_chunks
from smartpark.api.limits import HeldStream
from smartpark.config import Settings
from smartpark.storage import series
from smartpark.storage.series import SeriesQuery

router = APIRouter(prefix="/api/v1", tags=["readings"])
# The most points one JSON response carries; beyond it the client picks a bucket or a
# shorter range (the CSV export streams up to SMARTPARK_EXPORT_MAX_ROWS rows).
MAX_POINTS = 10_000
HOUR = timedelta(hours=1)
BUCKETS = {"1m": timedelta(minutes=1), "5m": timedelta(minutes=5), "15m": timedelta(minutes=15),
           "1h": timedelta(hours=1), "6h": timedelta(hours=6), "1d": timedelta(days=1)}  # fmt: skip
Devices = Annotated[list[str], Query(min_length=1, description="Device ids (repeat the parameter)")]


def _query(
    park: str, caller: Caller, device: list[str], metric: list[str], start: datetime, end: datetime
) -> SeriesQuery:
    in_park(caller, park)
    time_range(start, end)
    return SeriesQuery(
        park, caller.enterprise, sorted(set(device)), sorted(set(metric)), start, end
    )


def _estimate(q: SeriesQuery, bucket: timedelta) -> int:
    return int((q.end - q.start) / bucket + 1) * len(q.devices) * len(q.metrics)


@router.get("/parks/{park}/readings")
def readings(
    park: str, caller: Caller, conn: Conn, device: Devices, metric: Metrics, start: When, end: When,
    bucket: Annotated[str, Query(description="raw, auto or one of 1m 5m 15m 1h 6h 1d")] = "auto",
) -> Response:  # fmt: skip
    """Several devices' and metrics' series; `auto` gives raw points when they fit under the
    cap, else the finest bucket that does (mean/min/max of valid samples and their count)."""
    q = _query(park, caller, device, metric, start, end)
    if bucket not in ("raw", "auto", *BUCKETS):
        raise HTTPException(
            422, f"bucket must be raw, auto or one of {' '.join(BUCKETS)}, not {bucket!r}"
        )
    if bucket in ("raw", "auto"):
        points = series.count(conn, q)
        if points <= MAX_POINTS:
            return _json("raw", series.raw(conn, q))
        if bucket == "raw":
            raise HTTPException(
                422,
                f"the range holds {points} points, more than {MAX_POINTS}: "
                "choose a bucket, a shorter range or readings.csv",
            )
        bucket = next((b for b, size in BUCKETS.items() if _estimate(q, size) <= MAX_POINTS), "1d")
    estimate = _estimate(q, BUCKETS[bucket])
    if estimate > MAX_POINTS:
        raise HTTPException(
            422,
            f"{bucket} buckets give about {estimate} points, more than {MAX_POINTS}: "
            "choose a larger bucket or a shorter range",
        )
    size = BUCKETS[bucket]
    # Whole-hour buckets over an hour-aligned range come from the hourly rollups (what they
    # are for): a 30-day hourly series reads 720 rows per series instead of 43,200.
    hourly = size >= HOUR and all(t.timestamp() % 3600 == 0 for t in (q.start, q.end))
    return _json(bucket, (series.from_rollups if hourly else series.bucketed)(conn, q, size))


def _json(bucket: str, documents: str) -> Response:
    # The database wrote the series (up to 10,000 points) as JSON; only the envelope is ours.
    envelope = orjson.dumps(bucket).decode()
    return Response(f'{{"bucket":{envelope},"series":{documents}}}', media_type="application/json")


@router.get(
    "/parks/{park}/readings.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}},
        429: {"description": "You have SMARTPARK_API_MAX_STREAMS_PER_USER exports running"},
    },
)
def readings_csv(
    request: Request,
    park: str,
    caller: StreamingCaller,
    device: Devices,
    metric: Metrics,
    start: When,
    end: When,
) -> StreamingResponse:
    """Raw readings as CSV, streamed from a server-side cursor on a connection of the export's
    own, at most SMARTPARK_EXPORT_MAX_ROWS rows (a cut export says so in its last line)."""
    q = _query(park, caller, device, metric, start, end)
    settings: Settings = request.app.state.settings
    slot = request.app.state.exports.acquire(caller.user_id)
    chunks = csv_chunks(
        request.app.state.export_engine, q,
        max_rows=settings.export_max_rows, statement_timeout=settings.export_statement_timeout,
    )  # fmt: skip
    headers = {
        "Content-Disposition": f'attachment; filename="{park}-readings.csv"',
        "X-Export-Max-Rows": str(settings.export_max_rows),
    }
    return HeldStream(chunks, slot, media_type="text/csv; charset=utf-8", headers=headers)
