"""The check cycle computed naively from raw readings, for comparison with rollups.

The same quantities smartpark's checks need at `now` — counter consumption per enterprise for
the last local day and the month so far (ratios, carbon), the last hour's and the last day's
hourly means per stack (concentrations), the month's hourly means for permits, each device's
last reading and each gauge's distinct values over the stuck window — each by one query over
`reading`, with no rollups.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg

HOUR = timedelta(hours=1)

_CONSUMPTION = """
WITH w AS (
  SELECT d.enterprise_id, r.metric_id, r.time,
         r.value - lag(r.value) OVER (PARTITION BY r.device_id, r.metric_id ORDER BY r.time) AS delta
  FROM reading r JOIN device d ON d.id = r.device_id JOIN metric m ON m.id = r.metric_id
  WHERE m.kind = 'counter' AND d.park_id = %(park)s
    AND r.time >= %(start)s::timestamptz - interval '1 hour' AND r.time < %(end)s
)
SELECT enterprise_id, metric_id, sum(CASE WHEN delta >= 0 THEN delta ELSE 0 END),
       count(DISTINCT date_bin('1 hour', time, timestamptz '2000-01-01'))
FROM w WHERE time >= %(start)s GROUP BY 1, 2
"""
_HOURLY = """
SELECT r.device_id, r.metric_id, date_bin('1 hour', r.time, timestamptz '2000-01-01') AS hour,
       avg(r.value) FILTER (WHERE r.flag = 'N'), count(*) FILTER (WHERE r.flag = 'N')
FROM reading r JOIN device d ON d.id = r.device_id
WHERE d.kind = 'cems' AND d.park_id = %(park)s AND r.time >= %(start)s AND r.time < %(end)s
GROUP BY 1, 2, 3
"""
_LAST_SEEN = """
SELECT r.device_id, max(r.time) FROM reading r JOIN device d ON d.id = r.device_id
WHERE d.park_id = %(park)s GROUP BY 1
"""
_STUCK = """
SELECT r.device_id, r.metric_id, count(DISTINCT r.value)
FROM reading r JOIN device d ON d.id = r.device_id JOIN metric m ON m.id = r.metric_id
WHERE m.kind = 'gauge' AND d.park_id = %(park)s AND r.time >= %(start)s AND r.time < %(end)s
GROUP BY 1, 2
"""


def cycle(
    conn: psycopg.Connection[Any], park: str, now_hour: datetime, day_start: datetime,
    month_start: datetime,
) -> dict[str, int]:  # fmt: skip
    """Run every naive query for a check run at `now_hour`; the rows each returned."""
    p = {"park": park}
    day = {"start": day_start, "end": day_start + 24 * HOUR}
    queries = {
        "ratio_day": (_CONSUMPTION, p | day),
        "ratio_carbon_month": (_CONSUMPTION, p | {"start": month_start, "end": now_hour}),
        "concentration_hour": (_HOURLY, p | {"start": now_hour - HOUR, "end": now_hour}),
        "concentration_day": (_HOURLY, p | day),
        "permit_month": (_HOURLY, p | {"start": month_start, "end": now_hour}),
        "health_silent": (_LAST_SEEN, p),
        "health_stuck": (_STUCK, p | {"start": now_hour - 2 * HOUR, "end": now_hour}),
    }
    return {
        name: len(conn.execute(sql, params).fetchall()) for name, (sql, params) in queries.items()
    }  # type: ignore[arg-type]
