"""The ingestor: MQTT source, writer thread and registry cache wired together."""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from sqlalchemy import Engine

from smartpark.config import MqttEndpoint, Settings
from smartpark.db import connect_raw
from smartpark.heartbeat import Heartbeat
from smartpark.ingestion.dead_letters import DeadLetterPolicy
from smartpark.ingestion.mqtt import MqttSource, subscriptions
from smartpark.ingestion.registry_cache import RegistryCache
from smartpark.ingestion.stats import IngestStats
from smartpark.ingestion.types import Limits, Registry
from smartpark.ingestion.writer import Inbound, Writer, WriterConfig
from smartpark.storage.migrate import check_schema
from smartpark.storage.registry import load_snapshot

log = logging.getLogger(__name__)


def contract_limits(settings: Settings) -> Limits:
    """The device contract's bounds from the settings (docs/mqtt.md, "Bounds")."""
    return Limits(
        max_payload_bytes=settings.max_payload_bytes,
        max_reading_age=settings.reading_age_limit,
        max_clock_skew=settings.max_clock_skew,
        max_readings=settings.max_readings_per_message,
        max_depth=settings.max_json_depth,
    )


def writer_config(settings: Settings) -> WriterConfig:
    """The writer's settings; a batch never exceeds the broker's in-flight window."""
    return WriterConfig(
        batch_max_messages=min(settings.batch_max_messages, settings.mqtt_receive_maximum),
        batch_max_wait=settings.batch_max_wait.total_seconds(),
        queue_max_messages=settings.queue_max_messages,
        retry_initial=settings.retry_initial.total_seconds(),
        retry_max=settings.retry_max.total_seconds(),
        limits=contract_limits(settings),
        prefix=settings.mqtt_topic_prefix,
        dead_letters=DeadLetterPolicy(
            payload_bytes=settings.dead_letter_payload_bytes,
            max_reasons=settings.dead_letter_max_reasons,
            budget_per_minute=settings.dead_letter_budget_per_minute,
        ),
        max_open_gaps=settings.max_open_gaps_per_device,
    )


class Ingestor:
    """Receives telemetry and status messages and stores each exactly once."""

    def __init__(
        self, settings: Settings, engine: Engine, database_url: str, endpoint: MqttEndpoint
    ) -> None:
        check_schema(engine)
        self.stats = IngestStats()
        self._engine = engine

        def load() -> Registry:
            with engine.connect() as conn:
                return load_snapshot(conn)

        def connect() -> psycopg.Connection[Any]:
            return connect_raw(database_url)

        self.registry = RegistryCache(load, settings.registry_refresh.total_seconds())
        self.source = MqttSource(
            endpoint,
            settings.mqtt_client_id,
            subscriptions(settings.mqtt_topic_prefix, settings.mqtt_shared_group),
            self._deliver,
            protocol=settings.mqtt_protocol,
            receive_maximum=settings.mqtt_receive_maximum,
            session_expiry=settings.mqtt_session_expiry,
            keepalive=settings.mqtt_keepalive,
        )
        self.writer = Writer(
            writer_config(settings), connect, self.registry, self.source.ack, self.stats
        )
        self.heartbeat = Heartbeat(engine, "ingestor", self._state, settings.heartbeat_interval)

    def _state(self) -> dict[str, Any]:
        return {
            "broker_connected": self.source.connected.is_set(),
            "writer_alive": self.writer.alive,
            "messages": self.stats.messages,
            "dead_letters_dropped": self.stats.dead_letters_dropped,
            "queue_depth": self.stats.queue_depth,
        }

    def _deliver(self, message: Inbound) -> None:
        # The source exists before the writer it feeds; resolve the writer at call time.
        self.writer.put(message)

    def start(self) -> None:
        """Start writing, then start receiving."""
        self.writer.start()
        self.source.start()
        self.heartbeat.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop receiving, store and acknowledge what is in flight, disconnect."""
        self.heartbeat.stop()
        self.source.pause()
        drained = self.writer.stop(timeout)
        self.source.stop()
        log.info(
            "ingestor stopped: %d messages, %d readings stored, %d dead letters",
            self.stats.messages,
            self.stats.inserted,
            self.stats.dead_letters,
        )
        return drained
