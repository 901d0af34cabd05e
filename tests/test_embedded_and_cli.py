"""The embedded default (PostgreSQL from the wheel, in-process broker) and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import paho.mqtt.client as paho

from smartpark.config import MqttEndpoint, Settings
from smartpark.db import make_engine, resolve_database_url
from smartpark.embedded.broker import EmbeddedBroker, free_port
from smartpark.ingestion.service import Ingestor
from tests.conftest import REGISTRY, TOPIC
from tests.helpers import base_time
from tests.services import Database, Publisher, wait_until


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartpark", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


def test_embedded_default_end_to_end(tmp_path: Path) -> None:
    """No URLs configured: a wheel PostgreSQL and the in-process MQTT 3.1.1 broker."""
    env = {
        "SMARTPARK_DATA_DIR": str(tmp_path),
        "SMARTPARK_DATABASE_URL": "",
        "SMARTPARK_MQTT_URL": "",
    }
    upgraded = run_cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "plain PostgreSQL" in upgraded.stdout
    imported = run_cli("devices", "import", str(REGISTRY), env=env)
    assert imported.stdout.strip() == "imported 1 park(s), 2 enterprise(s), 3 device(s)"

    settings = Settings(
        data_dir=tmp_path,
        database_url=None,
        mqtt_url=None,
        mqtt_protocol="3.1.1",
        mqtt_client_id="embedded-test",
    )
    url = resolve_database_url(settings)
    broker = EmbeddedBroker(free_port())
    broker.start()
    engine = make_engine(url)
    ingestor = Ingestor(settings, engine, url, MqttEndpoint.parse(broker.url))
    try:
        ingestor.start()
        assert ingestor.source.subscribed.wait(10)
        publisher = Publisher(broker.url, protocol=paho.MQTTv311)  # amqtt speaks 3.1.1
        t0 = base_time()
        for minute in range(10):
            doc = {
                "ts": t0.replace(minute=minute).isoformat(),
                "seq": minute + 1,
                "readings": [{"metric": "water.intake", "value": minute}],
            }
            publisher.publish(TOPIC, orjson.dumps(doc))
        publisher.close()
        db = Database(url.replace("+psycopg", ""), engine, False)
        wait_until(lambda: db.scalar("SELECT count(*) FROM reading") == 10, timeout=30)
        assert db.scalar("SELECT sum(value) FROM reading_view") == 45.0
    finally:
        ingestor.stop(10)
        broker.stop()
        engine.dispose()


def test_cli_reports_bad_input_by_name(tsdb: Database, tmp_path: Path) -> None:
    env = {"SMARTPARK_DATABASE_URL": tsdb.url}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "parks:\n  - id: p\n    name: P\n    enterprises:\n      - id: e\n        name: E\n        devices:\n          - {id: d, kind: m, metrics: [water.nope]}\n"
    )
    result = run_cli("devices", "import", str(bad), env=env)
    assert result.returncode == 2
    assert "parks.0.enterprises.0.devices.0.metrics: unknown metric(s) water.nope" in result.stderr
    result = run_cli("devices", "import", str(tmp_path / "missing.yaml"), env=env)
    assert result.returncode == 2 and "cannot read" in result.stderr
    result = run_cli("db", "upgrade", env={**env, "SMARTPARK_MAX_CLOCK_SKEW": "soon"})
    assert result.returncode == 2 and "SMARTPARK_MAX_CLOCK_SKEW" in result.stderr
    result = run_cli("db", "upgrade", env=env)
    assert result.returncode == 0 and "TimescaleDB hypertable" in result.stdout
