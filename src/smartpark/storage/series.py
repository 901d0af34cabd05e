"""Reading series for the API: raw or time-bucketed, several devices and metrics at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, text

from smartpark.db import timescaledb_installed

# The caller's devices and metrics of a park in [start, end), for any table keyed by device,
# metric and a time column (readings by `time`, hourly rollups by `bucket`).
_WITHIN = """
    JOIN device d ON d.id = {t}.device_id
    JOIN enterprise e ON e.id = d.enterprise_id
    JOIN metric m ON m.id = {t}.metric_id
    WHERE d.park_id = :park AND (CAST(:scope AS text) IS NULL OR e.code = :scope)
      AND d.code = ANY(:devices) AND m.name = ANY(:metrics)
      AND {t}.{time} >= :start AND {t}.{time} < :end
"""
_SCOPE = "\n    FROM reading r" + _WITHIN.format(t="r", time="time")
# Buckets start at a fixed UTC origin, so the same range always gives the same buckets.
_ORIGIN = "timestamptz '2000-01-01 00:00+00'"


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """Which readings: devices and metrics of a park (within the caller's scope), [start, end)."""

    park: str
    scope: str | None
    devices: list[str]
    metrics: list[str]
    start: datetime
    end: datetime


def count(conn: Connection, q: SeriesQuery) -> int:
    """How many raw points the request covers (to enforce the cap before fetching)."""
    return int(conn.execute(text("SELECT count(*) " + _SCOPE), asdict(q)).scalar_one())


def raw(conn: Connection, q: SeriesQuery) -> list[dict[str, Any]]:
    """Every reading in the range, ordered by device, metric and time."""
    sql = "SELECT d.code AS device, m.name AS metric, m.unit, r.time, r.value, r.flag"
    rows = conn.execute(text(sql + _SCOPE + " ORDER BY 1, 2, 4"), asdict(q))
    return [dict(row._mapping) for row in rows]


def bucketed(conn: Connection, q: SeriesQuery, bucket: timedelta) -> list[dict[str, Any]]:
    """Per bucket: mean, min and max of the valid (N) values and the number of samples;
    time_bucket on TimescaleDB, date_bin on plain PostgreSQL."""
    function = "time_bucket" if timescaledb_installed(conn) else "date_bin"
    sql = (
        f"SELECT d.code AS device, m.name AS metric, m.unit, "
        f"{function}(:bucket, r.time, {_ORIGIN}) AS bucket, "
        "avg(r.value) FILTER (WHERE r.flag = 'N') AS mean, "
        "min(r.value) FILTER (WHERE r.flag = 'N') AS min, "
        "max(r.value) FILTER (WHERE r.flag = 'N') AS max, count(*) AS samples"
    )
    rows = conn.execute(
        text(sql + _SCOPE + " GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4"), asdict(q) | {"bucket": bucket}
    )
    return [dict(row._mapping) for row in rows]


_HOURS_SCOPE = _WITHIN.format(t="h", time="bucket")
# Hourly aggregates with the same meaning as `bucketed`: finished hours from rollup_hour, and
# the hours ingestion marked dirty (new or late data not yet maintained) from raw readings.
_ROLLED_HOURS = f"""
    SELECT d.code AS device, m.name AS metric, m.unit, h.bucket, h.n_normal, h.sum_normal,
           h.min_normal, h.max_normal, h.samples
    FROM rollup_hour h {_HOURS_SCOPE}
      AND NOT EXISTS (SELECT 1 FROM rollup_dirty x WHERE x.device_id = h.device_id
                      AND x.metric_id = h.metric_id AND x.bucket = h.bucket)
"""
_DIRTY_HOURS = f"""
    SELECT d.code, m.name, m.unit, h.bucket,
           count(*) FILTER (WHERE r.flag = 'N'), sum(r.value) FILTER (WHERE r.flag = 'N'),
           min(r.value) FILTER (WHERE r.flag = 'N'), max(r.value) FILTER (WHERE r.flag = 'N'),
           count(*)
    FROM rollup_dirty h
    JOIN reading r ON r.device_id = h.device_id AND r.metric_id = h.metric_id
      AND r.time >= h.bucket AND r.time < h.bucket + interval '1 hour'
    {_HOURS_SCOPE}
    GROUP BY 1, 2, 3, 4
"""
_BY_BUCKET = f"""
SELECT device, metric, unit, date_bin(:bucket, bucket, {_ORIGIN}) AS bucket,
       sum(sum_normal) / NULLIF(sum(n_normal), 0) AS mean, min(min_normal) AS min,
       max(max_normal) AS max, CAST(sum(samples) AS bigint) AS samples
FROM hours GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 4
"""


def from_rollups(conn: Connection, q: SeriesQuery, bucket: timedelta) -> list[dict[str, Any]]:
    """What `bucketed` gives for hour-aligned ranges and buckets of whole hours, read from the
    hourly rollups (and raw readings only for hours not yet maintained)."""
    params = asdict(q) | {"bucket": bucket}
    # Planning the raw part touches every chunk of `reading` in the range: only when needed.
    dirty = conn.execute(text("SELECT 1 FROM rollup_dirty h" + _HOURS_SCOPE + " LIMIT 1"), params)
    hours = _ROLLED_HOURS + (" UNION ALL " + _DIRTY_HOURS if dirty.first() else "")
    rows = conn.execute(text(f"WITH hours AS ({hours}) {_BY_BUCKET}"), params)
    return [dict(row._mapping) for row in rows]


def stream_raw(conn: Connection, q: SeriesQuery) -> Iterator[tuple[Any, ...]]:
    """Raw rows through a server-side cursor, for CSV export of long ranges."""
    sql = "SELECT r.time, d.code, m.name, r.value, m.unit, r.flag" + _SCOPE + " ORDER BY 1, 2, 3"
    result = conn.execution_options(stream_results=True, max_row_buffer=5000).execute(
        text(sql), asdict(q)
    )
    for row in result:
        yield tuple(row)
