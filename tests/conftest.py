"""Shared fixtures: real databases (TimescaleDB and plain PostgreSQL) and a private Mosquitto."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from smartpark.config import MqttEndpoint, Settings
from smartpark.ingestion.service import Ingestor
from tests.services import Database, Mosquitto, fresh_database, private_workdir

REGISTRY = Path(__file__).resolve().parents[1] / "examples" / "registry.yaml"
TOPIC = "smartpark/qinba-demo/hz-steel/hz-steel-wm-01/telemetry"
CEMS_TOPIC = "smartpark/qinba-demo/hz-steel/hz-steel-cems-1/telemetry"


@pytest.fixture(params=["timescaledb", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated database with the test registry, on each storage path."""
    with fresh_database(request.param == "timescaledb", REGISTRY) as db:
        yield db


@pytest.fixture
def tsdb() -> Iterator[Database]:
    """A migrated TimescaleDB database with the test registry."""
    with fresh_database(True, REGISTRY) as db:
        yield db


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private Mosquitto with the deployed configuration."""
    broker = Mosquitto(private_workdir())
    broker.start()
    yield broker
    broker.stop()


def settings_for(db_url: str, mqtt_url: str, **overrides: Any) -> Settings:
    """Settings for a test ingestor with a unique client id."""
    values: dict[str, Any] = {
        "database_url": db_url,
        "mqtt_url": mqtt_url,
        "mqtt_client_id": f"test-ingest-{uuid.uuid4().hex[:8]}",
        "batch_max_wait": timedelta(milliseconds=50),
        "retry_initial": timedelta(milliseconds=100),
        "retry_max": timedelta(seconds=1),
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def ingestor_factory() -> Iterator[Callable[..., Ingestor]]:
    """Start in-process ingestors; stopped at teardown."""
    started: list[Ingestor] = []

    def start(db: Database | str, mqtt_url: str, **overrides: Any) -> Ingestor:
        from smartpark.db import make_engine

        url = db if isinstance(db, str) else db.url
        settings = settings_for(url, mqtt_url, **overrides)
        ingestor = Ingestor(settings, make_engine(url), url, MqttEndpoint.parse(mqtt_url))
        ingestor.start()
        assert ingestor.source.subscribed.wait(10), "ingestor did not subscribe"
        started.append(ingestor)
        return ingestor

    yield start
    for ingestor in started:
        ingestor.stop(10)
