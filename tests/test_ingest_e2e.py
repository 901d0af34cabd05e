"""End to end: real Mosquitto, real database, the in-process ingestor."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson

from tests.conftest import CEMS_TOPIC, TOPIC
from tests.helpers import Stream, base_time, cems_message
from tests.services import Database, Mosquitto, Publisher, wait_until


def counts(db: Database) -> tuple[int, int, int]:
    return (
        db.scalar("SELECT count(*) FROM reading"),
        db.scalar("SELECT count(*) FROM dead_letter"),
        db.scalar("SELECT count(*) FROM data_quality_event"),
    )


def settle(db: Database, expected: tuple[int, int, int]) -> None:
    """Wait for the expected counts, then make sure nothing more arrives."""
    wait_until(lambda: counts(db) == expected, timeout=60)
    time.sleep(0.5)  # a late duplicate or extra row would show up here
    assert counts(db) == expected


def test_every_kind_of_message(
    database: Database, mosquitto: Mosquitto, ingestor_factory: Callable[..., Any]
) -> None:
    ingestor = ingestor_factory(database, mosquitto.url)
    pub = Publisher(mosquitto.url)
    t0 = base_time()
    for seq in range(1, 21):
        if seq in (11, 12):
            continue  # lost on the device side: a gap of two
        pub.publish(CEMS_TOPIC, cems_message(seq, t0))
    pub.publish(CEMS_TOPIC, cems_message(5, t0))  # the device sends seq 5 again
    mixed = {
        "ts": (t0 + timedelta(minutes=30)).isoformat(),
        "seq": 21,
        "readings": [
            {"metric": "emission.so2", "value": 0.02, "unit": "g/m3"},
            {"metric": "emission.nox", "value": 40, "unit": "kWh"},
            {"metric": "emission.pm", "value": 3, "flag": "Q"},
            {"metric": "emission.o2", "value": 9.5, "unit": "%"},
            {"metric": "emission.flow", "value": 12000, "flag": "M"},
        ],
    }
    pub.publish(CEMS_TOPIC, orjson.dumps(mixed))
    pub.publish(CEMS_TOPIC, b"{not json")
    pub.publish("smartpark/qinba-demo/hz-steel/ghost/telemetry", cems_message(1, t0))
    # Just over smartpark's 64 KiB and under the broker's packet limit (deploy/mosquitto).
    oversize = b'{"readings": [' + b'{"metric": "emission.o2", "value": 1},' * 1726 + b"{}]}"
    assert 65536 < len(oversize) < 66000
    pub.publish(CEMS_TOPIC, oversize)
    senml = [
        {"bn": "water.", "bt": t0.timestamp(), "n": "intake", "v": 5, "u": "m3"},
        {"n": "reused", "v": 2500, "u": "L"},
    ]
    pub.publish(TOPIC, orjson.dumps(senml))
    pub.publish(TOPIC.replace("telemetry", "status"), b"online")
    pub.close()

    # 18 CEMS messages x 5 + 3 good of the mixed one + 2 SenML; one dead letter each for the
    # mixed message (2 bad readings), bad JSON, the unknown device and the oversize one; a gap
    # (11-12) and a repeat (5).
    settle(database, (95, 4, 2))
    assert database.rows("SELECT kind, seq_from, seq_to FROM data_quality_event ORDER BY kind") == [
        ("seq_gap", 11, 12),
        ("seq_repeat", 5, 5),
    ]
    letters = database.rows(
        "SELECT reason, rejections, rejected, readings, payload_size FROM dead_letter ORDER BY reason"
    )
    reasons = [r[0] for r in letters]
    assert reasons[0] == (
        "2 of 5 readings rejected; first, reading 1: unit 'kWh' cannot be converted to 'mg/m3'"
    )
    assert letters[0][1:4] == (
        [
            {"index": 1, "reason": "unit 'kWh' cannot be converted to 'mg/m3'"},
            {"index": 2, "reason": "flag 'Q' of emission.pm is not one of N F M S D C T B"},
        ],
        2,
        5,
    )
    assert reasons[1] == f"payload is {len(oversize)} bytes, over the limit of 65536"
    assert letters[1][4] == len(oversize)
    assert reasons[2].startswith("payload is not valid UTF-8 JSON")
    assert reasons[3] == "unknown device 'ghost' in park 'qinba-demo'"
    assert database.rows(
        "SELECT metric, value, flag FROM reading_view WHERE time = %s ORDER BY metric",
        t0 + timedelta(minutes=30),
    ) == [("emission.flow", 12000.0, "M"), ("emission.o2", 9.5, "N"), ("emission.so2", 20.0, "N")]
    assert database.rows(
        "SELECT metric, value FROM reading_view WHERE device = 'hz-steel-wm-01' ORDER BY metric"
    ) == [
        ("water.intake", 5.0),
        ("water.reused", 2.5),
    ]
    assert database.scalar("SELECT status FROM device WHERE code = 'hz-steel-wm-01'") == "online"
    assert ingestor.stats.inserted == 95


def test_back_pressure_bounds_the_queue(
    tsdb: Database, mosquitto: Mosquitto, ingestor_factory: Callable[..., Any]
) -> None:
    ingestor = ingestor_factory(
        tsdb, mosquitto.url, queue_max_messages=10, mqtt_receive_maximum=20, batch_max_messages=5
    )
    Stream(mosquitto.url, CEMS_TOPIC, 1000, base_time()).start().finish()
    settle(tsdb, (5000, 0, 0))
    assert ingestor.stats.max_queue_depth <= 10
    assert ingestor.stats.batches >= 200  # 1000 messages in batches of at most 5


def test_nothing_lost_while_the_ingestor_is_away(
    tsdb: Database, mosquitto: Mosquitto, ingestor_factory: Callable[..., Any]
) -> None:
    """More than Mosquitto's default queue of 1000 waits for us while we are down."""
    first = ingestor_factory(tsdb, mosquitto.url, mqtt_client_id="away-test")
    first.stop()
    Stream(mosquitto.url, CEMS_TOPIC, 3000, base_time()).start().finish()
    ingestor_factory(tsdb, mosquitto.url, mqtt_client_id="away-test")
    settle(tsdb, (15000, 0, 0))


def test_broker_restart_loses_nothing_it_kept(
    tsdb: Database, mosquitto: Mosquitto, ingestor_factory: Callable[..., Any]
) -> None:
    t0 = base_time()
    first = ingestor_factory(tsdb, mosquitto.url, mqtt_client_id="restart-test")
    stream = Stream(mosquitto.url, CEMS_TOPIC, 500, t0).start()
    stream.finish()
    settle(tsdb, (2500, 0, 0))
    first.stop()
    # Queued for our session while we are away, then the broker restarts (persisting it).
    pub = Publisher(mosquitto.url)
    for seq in range(501, 801):
        pub.publish(CEMS_TOPIC, cems_message(seq, t0))
    pub.close()
    mosquitto.restart()
    second = ingestor_factory(tsdb, mosquitto.url, mqtt_client_id="restart-test")
    settle(tsdb, (4000, 0, 0))
    # A restart while connected: the ingestor reconnects and resubscribes by itself.
    mosquitto.restart()
    assert second.source.subscribed.wait(30)
    pub = Publisher(mosquitto.url)
    for seq in range(801, 1001):
        pub.publish(CEMS_TOPIC, cems_message(seq, t0))
    pub.close()
    settle(tsdb, (5000, 0, 0))
