"""Two parks with the same enterprise and device codes: each sees only its own dead letters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from smartpark.catalogue import load_catalogue
from smartpark.db import connect_raw
from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.dead_letters import DeadLetterPolicy, dead_letter
from smartpark.ingestion.reprocess import reprocess
from smartpark.ingestion.types import Limits, ParseContext
from smartpark.registry.schema import parse_registry
from smartpark.storage import queries
from smartpark.storage.readings import Batch, store_batch
from smartpark.storage.registry import import_registry, load_snapshot
from tests.services import Database

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
POLICY = DeadLetterPolicy(payload_bytes=4096, max_reasons=50, budget_per_minute=120)


def _two_parks(db: Database) -> ParseContext:
    device = {"id": "meter-01", "kind": "water_meter", "metrics": ["water.intake"]}
    doc = {
        "parks": [
            {
                "id": park,
                "name": park,
                "enterprises": [{"id": "e1", "name": "E1", "devices": [device]}],
            }
            for park in ("pa", "pb")
        ]
    }
    with db.engine.begin() as conn:
        import_registry(conn, parse_registry(doc, set(load_catalogue()), "test"), "Asia/Shanghai")
        registry = load_snapshot(conn)
    limits = Limits(
        max_payload_bytes=65536,
        max_reading_age=timedelta(days=30),
        max_clock_skew=timedelta(minutes=10),
        max_readings=1000,
        max_depth=16,
    )
    return ParseContext(registry, limits, "smartpark")


def test_dead_letters_are_sealed_per_park(tsdb: Database) -> None:
    ctx = _two_parks(tsdb)
    bad = orjson.dumps(
        {"ts": NOW.isoformat(), "readings": [{"metric": "water.intake", "value": -1}]}
    )
    letters = []
    for park in ("pa", "pb", "pb"):
        topic = f"smartpark/{park}/e1/meter-01/telemetry"
        parsed = parse_message(topic, bad, ctx, NOW)
        letters.append(dead_letter(parsed, topic, bad, received_at=NOW, policy=POLICY))
    with connect_raw(tsdb.url) as raw:
        store_batch(raw, Batch(dead_letters=letters), NOW)
    devices = dict(tsdb.rows("SELECT d.park_id, d.id FROM device d"))
    assert tsdb.rows("SELECT park_id, device_id FROM dead_letter ORDER BY id") == [
        ("pa", devices["pa"]),
        ("pb", devices["pb"]),
        ("pb", devices["pb"]),
    ]
    with tsdb.engine.connect() as conn:
        pa_items, pa_total = queries.dead_letters(conn, "pa", 50, 0)
        pb_items, pb_total = queries.dead_letters(conn, "pb", 50, 0)
        pb_first = pb_items[-1]["id"]
        assert queries.dead_letter(conn, "pa", pb_first) is None
    assert (pa_total, pb_total) == (1, 2)
    assert {i["park_id"] for i in pa_items} == {"pa"} and {i["park_id"] for i in pb_items} == {"pb"}
    # An admin of pa cannot reprocess pb's letter; pb's own admin can, and it is claimed once.
    with connect_raw(tsdb.url) as raw:
        assert reprocess(raw, pb_first, ctx, NOW, park="pa", policy=POLICY) is None
        done = reprocess(raw, pb_first, ctx, NOW, park="pb", policy=POLICY)
        assert done is not None and done.still_failing == [
            "value -1.0 m3 of water.intake is below its physical minimum 0 m3"
        ]
        assert reprocess(raw, pb_first, ctx, NOW, park="pb", policy=POLICY) is None
    assert tsdb.scalar("SELECT count(*) FROM dead_letter WHERE park_id = 'pa'") == 1
