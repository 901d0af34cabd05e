"""The standard dataset for the checks and API benchmarks: 500 devices, one-minute data.

10 enterprises x 50 devices: 20 water meters (intake, reuse), 10 electricity meters, 10
waste-heat meters (available, recovered) and 10 stack analysers (SO2, O2, flow), i.e. 1,000
series; loaded with COPY straight into `reading` and marked for rollup maintenance the way
ingestion marks what it stores.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import yaml

PARK = "bench-park"
ENTERPRISES = 10
KINDS = {  # kind: (devices per enterprise, metrics)
    "water": (20, ["water.intake", "water.reused"]),
    "power": (10, ["energy.electricity.import"]),
    "heat": (10, ["heat.waste.available", "heat.waste.recovered"]),
    "cems": (10, ["emission.so2", "emission.o2", "emission.flow"]),
}
# Per-minute counter increments and gauge levels (a plausible park; the numbers only shape work).
STEP = {"water.intake": 1.0, "water.reused": 9.0, "energy.electricity.import": 50.0,
        "heat.waste.available": 1.0, "heat.waste.recovered": 0.62}  # fmt: skip
LEVEL = {"emission.so2": 22.0, "emission.o2": 9.0, "emission.flow": 100_000.0}
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Series:
    """One device's metric as stored: ids and the enterprise it belongs to."""

    device_id: int
    metric_id: int
    metric: str


def registry() -> dict[str, Any]:
    """The registry document of the dataset's park."""
    enterprises = []
    for e in range(ENTERPRISES):
        devices = [
            {"id": f"e{e:02d}-{kind}-{i:02d}", "kind": kind, "metrics": metrics}
            | ({"outlet": f"stack-{i:02d}"} if kind == "cems" else {})
            for kind, (count, metrics) in KINDS.items()
            for i in range(count)
        ]
        enterprises.append({"id": f"e{e:02d}", "name": f"Enterprise {e:02d}", "devices": devices})
    park = {"id": PARK, "name": "Benchmark park", "timezone": "Asia/Shanghai"}
    return {"parks": [park | {"enterprises": enterprises}]}


def write_registry(path: Path) -> Path:
    """Write the registry YAML for `smartpark devices import` / fresh_database."""
    path.write_text(yaml.safe_dump(registry(), sort_keys=False))
    return path


def checks_config() -> dict[str, Any]:
    """A checks configuration exercising every check over the dataset."""
    outlets = [
        {"enterprise": f"e{e:02d}", "outlet": f"stack-{i:02d}", "kind": "stack",
         "reference_o2": 6, "flow_metric": "emission.flow", "source": "GB 13223-2011",
         "limits": {"emission.so2": {"hourly": 35, "daily": 35}}}
        for e in range(ENTERPRISES) for i in range(KINDS["cems"][0])
    ]  # fmt: skip
    permits = [
        {"enterprise": o["enterprise"], "outlet": o["outlet"], "pollutant": "emission.so2",
         "period": "month", "amount_t": 50, "source": "benchmark permit"}
        for o in outlets
    ]  # fmt: skip
    ratio = {"min_coverage": 0.9, "windows": ["day", "month"]}
    return {
        "park": PARK,
        "validity": {"source": "HJ 75-2017", "min_valid_minutes_per_hour": 45,
                     "min_valid_hours_per_day": 20, "valid_flags": ["N"], "air_oxygen_percent": 21},
        "ratios": {
            "water_reuse": ratio | {"source": "MIIT RG4", "numerator": ["water.reused"],
                                    "denominator": ["water.reused", "water.intake"], "target": 0.9},
            "waste_heat_recovery": ratio | {"source": "MIIT RG6",
                                            "numerator": ["heat.waste.recovered"],
                                            "denominator": ["heat.waste.available"], "target": 0.6},
        },
        "outlets": outlets,
        "permits": permits,
        "factors": [{"version": "B-1", "valid_from": "2020-01-01", "source": "benchmark",
                     "co2": {"energy.electricity.import": {"kg_co2_per_unit": 0.5306,
                                                           "source": "MEE 2023"}}}],
        "carbon_budget_t": {f"e{e:02d}": 2000 for e in range(ENTERPRISES)},
        "alerts": {"source": "benchmark", "hold_minutes": 60, "hysteresis": 0.05},
        "data_health": {"source": "benchmark", "silent_minutes": 30, "stuck_hours": 2},
    }  # fmt: skip


def series(conn: psycopg.Connection[Any]) -> list[Series]:
    """Every (device, metric) the registry declares."""
    rows = conn.execute(
        "SELECT d.id, m.id, m.name FROM device d JOIN device_metric dm ON dm.device_id = d.id "
        "JOIN metric m ON m.id = dm.metric_id ORDER BY d.id, m.id"
    ).fetchall()
    return [Series(d, m, name) for d, m, name in rows]


def load(
    conn: psycopg.Connection[Any], all_series: list[Series], start: datetime, end: datetime,
    seed: int = 7,
) -> int:  # fmt: skip
    """COPY one-minute readings in [start, end) for every series and mark the touched hours
    dirty (a counter's next hour too, as ingestion does); returns the rows written."""
    rng = random.Random(seed)
    minutes = int((end - start) / MINUTE)
    rows = 0
    with conn.cursor().copy(
        "COPY reading (device_id, metric_id, time, value, flag) FROM STDIN"
    ) as copy:
        for s in all_series:
            base = (start - datetime(2026, 1, 1, tzinfo=start.tzinfo)) / MINUTE
            for i in range(minutes):
                t = start + i * MINUTE
                if s.metric in STEP:
                    value = (base + i) * STEP[s.metric]
                else:
                    wave = 1 + 0.1 * math.sin((base + i) / 180)
                    value = LEVEL[s.metric] * wave * (1 + rng.gauss(0, 0.02))
                copy.write_row((s.device_id, s.metric_id, t, value, "N"))
            rows += minutes
    conn.execute(
        """
        INSERT INTO rollup_dirty (device_id, metric_id, bucket)
        SELECT dm.device_id, dm.metric_id, h
        FROM device_metric dm JOIN metric m ON m.id = dm.metric_id,
             generate_series(%(start)s::timestamptz,
                             %(end)s::timestamptz - interval '1 hour'
                             + CASE WHEN m.kind = 'counter' THEN interval '1 hour'
                                    ELSE interval '0' END,
                             interval '1 hour') AS h
        ON CONFLICT DO NOTHING
        """,
        {"start": start, "end": end},
    )
    conn.commit()
    return rows
