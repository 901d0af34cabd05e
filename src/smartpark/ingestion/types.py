"""Value types passed between the contract parser, the writer and storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple


@dataclass(frozen=True, slots=True)
class MetricRef:
    """What the parser needs to know of a catalogue metric."""

    id: int
    unit: str
    minimum: float | None = None  # the catalogue's physical bounds, in `unit`
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class DeviceRef:
    """What the parser needs to know of a registered device."""

    id: int
    park: str
    enterprise: str
    code: str
    metric_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class Registry:
    """A snapshot of devices (by park and code) and metrics (by name)."""

    devices: dict[tuple[str, str], DeviceRef]
    metrics: dict[str, MetricRef]
    parks: frozenset[str] = field(init=False)  # the parks of the registered devices

    def __post_init__(self) -> None:
        object.__setattr__(self, "parks", frozenset(park for park, _ in self.devices))


@dataclass(frozen=True, slots=True)
class Limits:
    """Contract limits from the settings."""

    max_payload_bytes: int
    max_reading_age: timedelta
    max_clock_skew: timedelta
    max_readings: int
    max_depth: int


@dataclass(slots=True)
class RawReading:
    """A reading as it came off the wire, before registry and unit checks."""

    metric: Any
    value: Any
    unit: Any
    flag: Any
    ts: Any
    # Set when the reading is already known to be bad (e.g. a relative SenML time).
    error: str | None = None


class Reading(NamedTuple):
    """A reading ready to store, in canonical units and UTC."""

    # A tuple, not a frozen dataclass: one is built per reading on the ingestion hot path,
    # and a frozen dataclass's __init__ (object.__setattr__ per field) cost four times more.

    device_id: int
    metric_id: int
    time: datetime
    value: float
    flag: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message (index None) or one of its readings could not be stored."""

    reason: str
    reading_index: int | None = None


@dataclass(slots=True)
class Parsed:
    """The outcome for one message."""

    device: DeviceRef | None = None
    # The registered park the message belongs to: the device's, or the topic's when only the
    # device is unknown; None for a park nobody registered (the topic is the sender's word).
    park: str | None = None
    seq: int | None = None
    total: int = 0  # readings the message held (0: it was rejected before they were read)
    status: str | None = None
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParseContext:
    """Everything the parser consults besides the message: registry, limits, topic prefix."""

    registry: Registry
    limits: Limits
    prefix: str
