"""Rollup maintenance: recompute only the hours (and days) that new or late data touched."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

# Claim dirty hours (SKIP LOCKED: never wait on rows a single refresh is already handling).
_CLAIM = text("""
DELETE FROM rollup_dirty
WHERE (device_id, metric_id, bucket) IN (
    SELECT device_id, metric_id, bucket FROM rollup_dirty
    ORDER BY bucket LIMIT :limit FOR UPDATE SKIP LOCKED
)
RETURNING device_id, metric_id, bucket
""")

# Each claimed hour from raw readings, with the last reading before it for counter deltas.
_HOURS = text("""
WITH claimed AS (
    SELECT * FROM unnest(CAST(:devices AS int[]), CAST(:metrics AS smallint[]),
                         CAST(:buckets AS timestamptz[])) AS c(device_id, metric_id, bucket)
), computed AS (
    SELECT c.device_id, c.metric_id, c.bucket,
           count(w.time) AS samples,
           count(*) FILTER (WHERE w.flag = 'N') AS n_normal,
           sum(w.value) FILTER (WHERE w.flag = 'N') AS sum_normal,
           min(w.value) FILTER (WHERE w.flag = 'N') AS min_normal,
           max(w.value) FILTER (WHERE w.flag = 'N') AS max_normal,
           count(*) FILTER (WHERE w.flag = 'S') AS n_manual,
           sum(w.value) FILTER (WHERE w.flag = 'S') AS sum_manual,
           min(w.value) FILTER (WHERE w.flag = 'S') AS min_manual,
           max(w.value) FILTER (WHERE w.flag = 'S') AS max_manual,
           CASE WHEN m.kind = 'counter' THEN coalesce(sum(
               CASE WHEN w.prev IS NULL THEN 0 WHEN w.value >= w.prev THEN w.value - w.prev
                    ELSE w.value END), 0) END AS consumed,
           count(*) FILTER (WHERE w.prev IS NOT NULL AND w.value < w.prev) AS resets,
           (array_agg(w.value ORDER BY w.time DESC))[1] AS last_value
    FROM claimed c
    JOIN metric m ON m.id = c.metric_id
    CROSS JOIN LATERAL (
        SELECT x.time, x.value, x.flag, lag(x.value) OVER (ORDER BY x.time) AS prev
        FROM (
            (SELECT time, value, flag FROM reading
             WHERE device_id = c.device_id AND metric_id = c.metric_id AND time < c.bucket
             ORDER BY time DESC LIMIT 1)
            UNION ALL
            (SELECT time, value, flag FROM reading
             WHERE device_id = c.device_id AND metric_id = c.metric_id
               AND time >= c.bucket AND time < c.bucket + interval '1 hour')
        ) x
    ) w
    WHERE w.time >= c.bucket
    GROUP BY c.device_id, c.metric_id, c.bucket, m.kind
), gone AS (
    -- Hours that no longer have readings (retention) lose their rollup.
    DELETE FROM rollup_hour h USING claimed c
    WHERE h.device_id = c.device_id AND h.metric_id = c.metric_id AND h.bucket = c.bucket
      AND NOT EXISTS (SELECT 1 FROM computed k WHERE k.device_id = c.device_id
                      AND k.metric_id = c.metric_id AND k.bucket = c.bucket)
)
INSERT INTO rollup_hour AS h (device_id, metric_id, bucket, samples, n_normal, sum_normal,
    min_normal, max_normal, n_manual, sum_manual, min_manual, max_manual, consumed, resets,
    last_value, updated_at)
SELECT device_id, metric_id, bucket, samples, n_normal, sum_normal, min_normal, max_normal,
       n_manual, sum_manual, min_manual, max_manual, consumed, resets, last_value, now()
FROM computed
ON CONFLICT (device_id, metric_id, bucket) DO UPDATE SET
    samples = EXCLUDED.samples, n_normal = EXCLUDED.n_normal, sum_normal = EXCLUDED.sum_normal,
    min_normal = EXCLUDED.min_normal, max_normal = EXCLUDED.max_normal,
    n_manual = EXCLUDED.n_manual, sum_manual = EXCLUDED.sum_manual,
    min_manual = EXCLUDED.min_manual, max_manual = EXCLUDED.max_manual,
    consumed = EXCLUDED.consumed, resets = EXCLUDED.resets, last_value = EXCLUDED.last_value,
    updated_at = now()
""")

# The local calendar days (in each park's zone) containing the claimed hours, rebuilt
# from the hourly rollups.
_DAYS = text("""
WITH claimed AS (
    SELECT DISTINCT c.device_id, c.metric_id,
           (c.bucket AT TIME ZONE p.timezone)::date AS day, p.timezone
    FROM unnest(CAST(:devices AS int[]), CAST(:metrics AS smallint[]),
                CAST(:buckets AS timestamptz[])) AS c(device_id, metric_id, bucket)
    JOIN device d ON d.id = c.device_id
    JOIN park p ON p.id = d.park_id
), computed AS (
    SELECT c.device_id, c.metric_id, c.day,
           count(h.bucket) AS hours, coalesce(sum(h.samples), 0) AS samples,
           coalesce(sum(h.n_normal), 0) AS n_normal, sum(h.sum_normal) AS sum_normal,
           min(h.min_normal) AS min_normal, max(h.max_normal) AS max_normal,
           coalesce(sum(h.n_manual), 0) AS n_manual, sum(h.sum_manual) AS sum_manual,
           sum(h.consumed) AS consumed, coalesce(sum(h.resets), 0) AS resets
    FROM claimed c
    JOIN rollup_hour h ON h.device_id = c.device_id AND h.metric_id = c.metric_id
     AND h.bucket >= (c.day::timestamp AT TIME ZONE c.timezone)
     AND h.bucket < ((c.day + 1)::timestamp AT TIME ZONE c.timezone)
    GROUP BY c.device_id, c.metric_id, c.day
)
INSERT INTO rollup_day AS r (device_id, metric_id, day, hours, samples, n_normal, sum_normal,
    min_normal, max_normal, n_manual, sum_manual, consumed, resets, updated_at)
SELECT device_id, metric_id, day, hours, samples, n_normal, sum_normal, min_normal,
       max_normal, n_manual, sum_manual, consumed, resets, now()
FROM computed
ON CONFLICT (device_id, metric_id, day) DO UPDATE SET
    hours = EXCLUDED.hours, samples = EXCLUDED.samples, n_normal = EXCLUDED.n_normal,
    sum_normal = EXCLUDED.sum_normal, min_normal = EXCLUDED.min_normal,
    max_normal = EXCLUDED.max_normal, n_manual = EXCLUDED.n_manual,
    sum_manual = EXCLUDED.sum_manual, consumed = EXCLUDED.consumed, resets = EXCLUDED.resets,
    updated_at = now()
""")


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """How much maintenance one call did."""

    hours: int


def refresh_rollups(conn: Connection, limit: int = 20_000) -> RefreshResult:
    """Recompute up to `limit` dirty hours and their days; call until it returns 0 hours."""
    claimed = conn.execute(_CLAIM, {"limit": limit}).all()
    if not claimed:
        return RefreshResult(0)
    params = {
        "devices": [c.device_id for c in claimed],
        "metrics": [c.metric_id for c in claimed],
        "buckets": [c.bucket for c in claimed],
    }
    conn.execute(_HOURS, params)
    conn.execute(_DAYS, params)
    return RefreshResult(len(claimed))


# Key of the advisory lock that makes rollup maintenance one-at-a-time across processes.
ROLLUP_LOCK = 0x5350_0001


def refresh_all(conn: Connection, limit: int = 20_000) -> int:
    """Drain the dirty set; returns the number of hours recomputed.

    Maintenance runs one at a time (a transaction-level advisory lock): a scheduler that finds
    another one maintaining waits for it, so the checks it runs next read finished rollups,
    never hours whose recomputation is still uncommitted elsewhere.
    """
    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROLLUP_LOCK})
    total = 0
    while (done := refresh_rollups(conn, limit).hours) > 0:
        total += done
    return total
