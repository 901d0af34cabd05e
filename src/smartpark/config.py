"""Settings from the environment (prefix SMARTPARK_); see docs/configuration.md."""

from __future__ import annotations

import socket
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartpark.errors import ConfigurationError


class MqttEndpoint(BaseModel):
    """A parsed `mqtt://user:pass@host:port` URL."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> MqttEndpoint:
        """Parse an mqtt:// or mqtts:// URL, naming what is wrong with a bad one."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp"):
            raise ConfigurationError(
                f"SMARTPARK_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}"
            )
        if not parts.hostname:
            raise ConfigurationError(f"SMARTPARK_MQTT_URL has no host: {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )

    def url(self) -> str:
        """The endpoint as a URL without credentials (safe to log)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class Settings(BaseSettings):
    """Every tunable of smartpark, with its default and the reason for it."""

    model_config = SettingsConfigDict(env_prefix="SMARTPARK_", extra="ignore")

    # Unset: smartpark starts an embedded PostgreSQL in `data_dir` (the embedded default).
    database_url: str | None = None
    # Unset: smartpark starts an in-process MQTT broker on a free local port.
    mqtt_url: str | None = None
    # Set: this ingestor joins `$share/<group>/...` so N processes share the stream.
    mqtt_shared_group: str | None = None
    # Stable across restarts so the broker keeps our persistent session (and its queue).
    mqtt_client_id: str = Field(default_factory=lambda: f"smartpark-ingest-{socket.gethostname()}")
    # "5" (default) or "3.1.1"; the embedded broker speaks 3.1.1 only.
    mqtt_protocol: str = "5"
    # MQTT 5 Receive Maximum: unacknowledged messages the broker may send us. A batch is
    # never larger than this window, so it bounds both throughput and memory.
    mqtt_receive_maximum: int = Field(default=4096, ge=1, le=65535)
    # How long the broker keeps our session while we are away (seconds).
    mqtt_session_expiry: int = Field(default=7 * 24 * 3600, ge=0)
    mqtt_keepalive: int = Field(default=30, ge=5)
    mqtt_topic_prefix: str = "smartpark"

    data_dir: Path = Path(".smartpark")
    timescaledb: str = "auto"  # auto | on | off

    # Device contract limits (docs/mqtt.md, "Bounds").
    max_payload_bytes: int = Field(default=64 * 1024, ge=256)
    # Unset: as old as RETENTION_READINGS (a reading older than that would be deleted anyway).
    max_reading_age: timedelta | None = None
    max_clock_skew: timedelta = timedelta(minutes=10)
    max_readings_per_message: int = Field(default=1000, ge=1)
    # At most 254: re-encoding a document (the duplicate-key check) stops beyond that depth.
    max_json_depth: int = Field(default=16, ge=3, le=254)

    # Dead letters (docs/ingestion.md): one row per rejected message, bounded in size.
    dead_letter_payload_bytes: int = Field(default=4096, ge=256)
    dead_letter_max_reasons: int = Field(default=50, ge=1)
    # Per device (or per park for unknown devices) and minute; beyond it only a counter grows.
    dead_letter_budget_per_minute: int = Field(default=120, ge=1)

    # Retention (smartpark db retention, run daily by the scheduler; docs/configuration.md).
    # Five calendar years at the least: 5 x 365 days plus the two leap days they can hold.
    retention_readings: timedelta = timedelta(days=5 * 365 + 2)
    retention_dead_letters: timedelta = timedelta(days=30)
    retention_reading_conflicts: timedelta = timedelta(days=365)
    retention_data_quality_events: timedelta = timedelta(days=365)
    retention_outbox_sent: timedelta = timedelta(days=30)
    retention_expired_credentials: timedelta = timedelta(days=7)
    retention_schedule: str = "40 3 * * *"  # cron, UTC
    # Above a batch's size: ingestors sharing a subscription get every other message, so one
    # batch of BATCH_MAX_MESSAGES (4096) can leave that many one-number gaps open at once,
    # each filled by the other ingestor's commit a moment later.
    max_open_gaps_per_device: int = Field(default=10_000, ge=1)

    # API connections (docs/api.md): a slow client or query cannot starve the others.
    api_pool_size: int = Field(default=10, ge=1)
    api_pool_max_overflow: int = Field(default=10, ge=0)
    api_pool_timeout: timedelta = timedelta(seconds=10)
    api_statement_timeout: timedelta = timedelta(seconds=30)
    export_statement_timeout: timedelta = timedelta(minutes=5)
    export_max_rows: int = Field(default=1_000_000, ge=1)
    api_max_streams_per_user: int = Field(default=4, ge=1)

    # Writer: a batch is committed when it holds this many messages or is this old.
    batch_max_messages: int = Field(default=4096, ge=1)
    batch_max_wait: timedelta = timedelta(milliseconds=100)
    # Bounded hand-off between the MQTT thread and the writer (back-pressure).
    queue_max_messages: int = Field(default=8192, ge=1)
    retry_initial: timedelta = timedelta(milliseconds=200)
    retry_max: timedelta = timedelta(seconds=10)
    registry_refresh: timedelta = timedelta(seconds=30)

    # Alert notifications: webhooks (comma-separated URLs) signed with this secret.
    webhook_urls: str = ""
    webhook_secret: str | None = None
    # Seconds between outbox deliveries.
    dispatch_interval: float = Field(default=5.0, gt=0)
    # Seconds between component heartbeats; /readyz calls a component stale after three missed.
    heartbeat_interval: float = Field(default=10.0, gt=0)

    default_timezone: str = "Asia/Shanghai"
    extra_metrics_file: Path | None = None
    log_level: str = "INFO"

    @field_validator(
        "max_reading_age",
        "max_clock_skew",
        "batch_max_wait",
        "retry_initial",
        "retry_max",
        "registry_refresh",
        "retention_readings",
        "retention_dead_letters",
        "retention_reading_conflicts",
        "retention_data_quality_events",
        "retention_outbox_sent",
        "retention_expired_credentials",
        "api_pool_timeout",
        "api_statement_timeout",
        "export_statement_timeout",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        # Plain numbers are seconds ("0.05"); ISO 8601 durations ("P90D") also work.
        if isinstance(value, str):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return value
        return value

    @field_validator("timescaledb")
    @classmethod
    def _check_timescaledb(cls, value: str) -> str:
        if value not in ("auto", "on", "off"):
            raise ValueError("must be auto, on or off")
        return value

    @field_validator("mqtt_protocol")
    @classmethod
    def _check_protocol(cls, value: str) -> str:
        if value not in ("5", "3.1.1"):
            raise ValueError("must be 5 or 3.1.1")
        return value

    @property
    def reading_age_limit(self) -> timedelta:
        """The oldest reading accepted: MAX_READING_AGE, else the raw-data retention."""
        return self.retention_readings if self.max_reading_age is None else self.max_reading_age

    def mqtt_endpoint(self) -> MqttEndpoint | None:
        """The configured broker, or None for the embedded one."""
        return MqttEndpoint.parse(self.mqtt_url) if self.mqtt_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once from the environment; a bad value names its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SMARTPARK_{str(err['loc'][0]).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
