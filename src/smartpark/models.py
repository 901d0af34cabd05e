"""Every table smartpark owns, in one place so Alembic sees them all (docs/schema.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UtcDateTime = DateTime(timezone=True)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING)


class Park(Base):
    """An industrial park; its time zone is how its people read times."""

    __tablename__ = "park"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64))


class Enterprise(Base):
    """A company operating inside a park."""

    __tablename__ = "enterprise"
    __table_args__ = (UniqueConstraint("park_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    industry: Mapped[str | None] = mapped_column(String(64))


class Metric(Base):
    """A catalogue metric, synced from the catalogue file at start."""

    __tablename__ = "metric"
    id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    unit: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    # The physically possible range in `unit` (NULL: unbounded on that side).
    minimum: Mapped[float | None] = mapped_column(Double)
    maximum: Mapped[float | None] = mapped_column(Double)


class Device(Base):
    """A meter or analyser; its status and sequence state are kept here."""

    __tablename__ = "device"
    __table_args__ = (UniqueConstraint("park_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprise.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(64))
    outlet: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default="unknown")
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    last_seq_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seq: Mapped[int | None] = mapped_column(BigInteger)
    # Dead letters not stored because the device spent its per-minute budget.
    dead_letters_dropped: Mapped[int] = mapped_column(BigInteger, server_default="0")
    dead_letters_dropped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DeviceMetric(Base):
    """Which metrics a device is registered to publish."""

    __tablename__ = "device_metric"
    device_id: Mapped[int] = mapped_column(
        ForeignKey("device.id", ondelete="CASCADE"), primary_key=True
    )
    metric_id: Mapped[int] = mapped_column(ForeignKey("metric.id"), primary_key=True)


class Reading(Base):
    """One stored sample; the key makes a redelivered message a no-op (a hypertable on time)."""

    __tablename__ = "reading"
    __table_args__ = (CheckConstraint("flag IN ('N','F','M','S','D','C','T','B')", name="flag"),)
    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    time: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    value: Mapped[float] = mapped_column(Double)
    flag: Mapped[str] = mapped_column(String(1), server_default="N")


class ReadingConflict(Base):
    """A second, different value for an already stored (device, metric, time)."""

    __tablename__ = "reading_conflict"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[int] = mapped_column(Integer)
    metric_id: Mapped[int] = mapped_column(SmallInteger)
    time: Mapped[datetime] = mapped_column(UtcDateTime)
    stored_value: Mapped[float] = mapped_column(Double)
    stored_flag: Mapped[str] = mapped_column(String(1))
    received_value: Mapped[float] = mapped_column(Double)
    received_flag: Mapped[str] = mapped_column(String(1))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class DeadLetter(Base):
    """A message that could not be stored whole: one row per message, bounded in size."""

    __tablename__ = "dead_letter"
    __table_args__ = (
        Index("ix_dead_letter_received_at", "received_at"),
        Index("ix_dead_letter_device", "device_id", "received_at"),
        Index("ix_dead_letter_park", "park_id", "id"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    topic: Mapped[str] = mapped_column(Text)  # truncated like the payload
    # The park named by the topic (even when the device is unknown) and the device, if known.
    park_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)  # a summary: the first reason and how many
    # The payload's first DEAD_LETTER_PAYLOAD_BYTES; its full size and SHA-256 beside it.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int] = mapped_column(Integer)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    # [{"index": i | null, "reason": "..."}], at most DEAD_LETTER_MAX_REASONS of them.
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    rejected: Mapped[int] = mapped_column(Integer)  # rejections in all (beyond the kept ones)
    readings: Mapped[int] = mapped_column(Integer)  # readings the message held (0: unparsed)
    reprocessed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class DataQualityEvent(Base):
    """A sequence gap, repeat or restart seen in a device's messages."""

    __tablename__ = "data_quality_event"
    __table_args__ = (
        Index("ix_data_quality_event_device", "device_id", "detected_at"),
        Index(
            "ix_data_quality_event_open_gap", "device_id",
            postgresql_where=text("kind = 'seq_gap' AND closed_at IS NULL"),
        ),
        CheckConstraint("kind IN ('seq_gap','seq_repeat','seq_reset')", name="kind"),
        CheckConstraint("closed_reason IN ('filled','expired')", name="closed_reason"),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime)
    seq_from: Mapped[int] = mapped_column(BigInteger)
    seq_to: Mapped[int] = mapped_column(BigInteger)
    # For a gap: how many of the missing sequence numbers arrived later (late uploads).
    filled: Mapped[int] = mapped_column(Integer, server_default="0")
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # A gap stops being open when filled, or when MAX_OPEN_GAPS_PER_DEVICE pushes it out.
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_reason: Mapped[str | None] = mapped_column(String(16))


class DeviceStatusEvent(Base):
    """Every online/offline transition a device reported."""

    __tablename__ = "device_status_event"
    __table_args__ = (Index("ix_device_status_event_device", "device_id", "received_at"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RollupDirty(Base):
    """An hour of one device's metric whose rollup must be recomputed (late data included)."""

    __tablename__ = "rollup_dirty"
    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)


class RollupHour(Base):
    """Hourly aggregate per device and metric; N and S (manual) samples kept apart."""

    __tablename__ = "rollup_hour"
    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)  # every flag
    n_normal: Mapped[int] = mapped_column(Integer)  # flag N
    sum_normal: Mapped[float | None] = mapped_column(Double)
    min_normal: Mapped[float | None] = mapped_column(Double)
    max_normal: Mapped[float | None] = mapped_column(Double)
    n_manual: Mapped[int] = mapped_column(Integer)  # flag S
    sum_manual: Mapped[float | None] = mapped_column(Double)
    min_manual: Mapped[float | None] = mapped_column(Double)
    max_manual: Mapped[float | None] = mapped_column(Double)
    # Counters: consumption in the hour (from the last reading before it), resets seen.
    consumed: Mapped[float | None] = mapped_column(Double)
    resets: Mapped[int] = mapped_column(Integer, server_default="0")
    last_value: Mapped[float | None] = mapped_column(Double)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class RollupDay(Base):
    """Daily aggregate per device and metric over the park's local calendar day."""

    __tablename__ = "rollup_day"
    device_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    metric_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    hours: Mapped[int] = mapped_column(Integer)  # hourly rollups present
    samples: Mapped[int] = mapped_column(Integer)
    n_normal: Mapped[int] = mapped_column(Integer)
    sum_normal: Mapped[float | None] = mapped_column(Double)
    min_normal: Mapped[float | None] = mapped_column(Double)
    max_normal: Mapped[float | None] = mapped_column(Double)
    n_manual: Mapped[int] = mapped_column(Integer)
    sum_manual: Mapped[float | None] = mapped_column(Double)
    consumed: Mapped[float | None] = mapped_column(Double)
    resets: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class ConfigDocument(Base):
    """A validated checks configuration as imported; the newest per park is in force."""

    __tablename__ = "config_document"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    imported_by: Mapped[str] = mapped_column(Text)
    source_file: Mapped[str | None] = mapped_column(Text)


class CheckRun(Base):
    """A claimed evaluation of a job for a window: two schedulers never evaluate it twice."""

    __tablename__ = "check_run"
    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    claimed_by: Mapped[str] = mapped_column(Text)


class CheckResult(Base):
    """One check's verdict for a subject and window, with the inputs that explain it."""

    __tablename__ = "check_result"
    __table_args__ = (
        UniqueConstraint("check_name", "subject", "window_start", "window_end"),
        Index("ix_check_result_window", "window_end"),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    check_name: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(128))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(24))
    value: Mapped[float | None] = mapped_column(Double)
    limit: Mapped[float | None] = mapped_column(Double)
    coverage: Mapped[float] = mapped_column(Double)
    severity: Mapped[str] = mapped_column(String(16))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Alert(Base):
    """An alert; at most one not RESOLVED per (rule, subject), enforced by a partial index."""

    __tablename__ = "alert"
    __table_args__ = (
        Index(
            "uq_alert_open", "rule", "subject", unique=True,
            postgresql_where=text("state <> 'RESOLVED'"),
        ),
        CheckConstraint("state IN ('OPEN','ACKNOWLEDGED','RESOLVED')", name="state"),
        CheckConstraint("severity IN ('info','warning','critical')", name="severity"),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(String(64))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[float | None] = mapped_column(Double)
    limit: Mapped[float | None] = mapped_column(Double)
    higher_is_bad: Mapped[bool] = mapped_column(server_default="true")
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_violation_at: Mapped[datetime] = mapped_column(UtcDateTime)
    clear_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class AlertTransition(Base):
    """Every state change of an alert, with who and when."""

    __tablename__ = "alert_transition"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    by: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


class Outbox(Base):
    """A notification written in the same transaction as its alert change (transactional
    outbox); the dispatcher delivers it and marks it sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "next_attempt_at", postgresql_where=text("sent_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    channel: Mapped[str] = mapped_column(String(16))  # mqtt | webhook
    target: Mapped[str] = mapped_column(Text)  # topic or URL
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PeriodicInput(Base):
    """A value no sensor measures, entered for a park or enterprise and a period."""

    __tablename__ = "periodic_input"
    __table_args__ = (
        Index(
            "uq_periodic_input", "park_id", text("coalesce(enterprise, '')"), "period_start",
            "period_end", "key", unique=True,
        ),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    enterprise: Mapped[str | None] = mapped_column(String(64))  # None: the whole park
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # exclusive
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Double)
    unit: Mapped[str] = mapped_column(String(32))
    entered_by: Mapped[str] = mapped_column(Text)
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Evaluation(Base):
    """An immutable green evaluation with the indicator-set and factor versions it used."""

    __tablename__ = "evaluation"
    __table_args__ = (Index("ix_evaluation_park_period", "park_id", "period_start"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    enterprise: Mapped[str | None] = mapped_column(String(64))
    period_label: Mapped[str] = mapped_column(String(16))  # 2026 or 2026-11
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    indicator_set: Mapped[str] = mapped_column(String(64))
    set_version: Mapped[str] = mapped_column(String(32))
    factor_version: Mapped[str | None] = mapped_column(String(64))
    gate_passed: Mapped[bool]
    green_index: Mapped[float | None] = mapped_column(Double)
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class User(Base):
    """A person or machine account: role viewer/operator/admin, scoped to a park or enterprise."""

    __tablename__ = "app_user"
    __table_args__ = (
        CheckConstraint("role IN ('viewer','operator','admin')", name="role"),
        UniqueConstraint("username"),
    )
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    park_id: Mapped[str] = mapped_column(ForeignKey("park.id", ondelete="CASCADE"))
    enterprise: Mapped[str | None] = mapped_column(String(64))  # None: the whole park
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())


class Credential(Base):
    """An API token or a dashboard session; only a hash of the secret is stored."""

    __tablename__ = "credential"
    __table_args__ = (CheckConstraint("kind IN ('token','session')", name="kind"),)
    secret_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ComponentHeartbeat(Base):
    """The last word of a running ingestor or scheduler, so `/readyz` can report on processes
    it does not run itself."""

    __tablename__ = "component_heartbeat"
    __table_args__ = (CheckConstraint("kind IN ('ingestor','scheduler')", name="kind"),)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    beat_at: Mapped[datetime] = mapped_column(UtcDateTime)
