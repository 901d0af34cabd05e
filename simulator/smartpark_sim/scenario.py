"""The scenario file: the park, its enterprises and devices, their behaviour and faults."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartpark_sim.models import MODEL_METRICS

_DURATION = re.compile(r"^([+-]?\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class ScenarioError(Exception):
    """The scenario file is invalid; the message names the field."""


def parse_duration(text: str) -> timedelta:
    """'90s', '15m', '+26h', '-3d' → timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like 15m, 26h or 3d")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Shift(_Strict):
    """Production level between two local hours (end may be 24)."""

    start: float = Field(ge=0, le=24)
    end: float = Field(ge=0, le=24)
    level: float = Field(default=1.0, ge=0)


class Production(_Strict):
    """How an enterprise's output varies: shifts, weekends, seasons."""

    shifts: list[Shift] = Field(default_factory=lambda: [Shift(start=0, end=24)])
    idle: float = Field(default=0.1, ge=0, le=1)  # level outside shifts
    weekend: float = Field(default=1.0, ge=0)  # factor on Saturday and Sunday
    seasonal: float = Field(default=0.0, ge=0, le=0.9)  # amplitude over the year
    peak_day: int = Field(default=200, ge=1, le=366)  # day of year of the seasonal peak


class DeviceSpec(_Strict):
    """A simulated device; `model` decides its metrics and physics."""

    id: str
    model: Literal["water", "energy", "heat", "waste", "stack", "outlet", "pv"]
    kind: str | None = None
    name: str | None = None
    outlet: str | None = None
    interval: int = Field(default=60, ge=1)  # seconds between messages
    params: dict[str, float] = Field(default_factory=dict)
    metrics: list[str] | None = None  # default: all the model produces

    def metric_names(self) -> list[str]:
        """The metrics this device publishes."""
        return self.metrics or list(MODEL_METRICS[self.model])


class EnterpriseSpec(_Strict):
    """An enterprise and its devices."""

    id: str
    name: str
    industry: str
    production: Production = Field(default_factory=Production)
    devices: list[DeviceSpec]


class FaultSpec(_Strict):
    """A fault injected on schedule; `start` is relative to the run start (+26h) or absolute."""

    kind: Literal[
        "spike",
        "drift",
        "stuck",
        "counter_reset",
        "dropout",
        "offline",
        "maintenance",
        "calibration",
        "duplicate",
        "late",
        "clock_skew",
        "malformed",
        "unknown_device",
    ]
    device: str
    start: str
    duration: str = "0s"
    metric: str | None = None
    factor: float = 1.0  # spike: multiply; drift: relative drift reached at the end
    offset: str = "0s"  # clock_skew: how far the device clock is off
    variant: Literal["bad_json", "no_timestamp", "unknown_metric", "bad_unit"] = "bad_json"
    every: str | None = None  # malformed / unknown_device / duplicate: repeat interval

    def window(self, run_start: datetime) -> tuple[datetime, datetime]:
        """Absolute [start, end) of the fault."""
        if self.start[:1] in "+-":
            begin = run_start + parse_duration(self.start)
        else:
            begin = datetime.fromisoformat(self.start)
            if begin.tzinfo is None:
                raise ValueError(f"fault start {self.start!r} needs a UTC offset")
        return begin, begin + parse_duration(self.duration)


class ParkSpec(_Strict):
    """The park itself."""

    id: str
    name: str
    timezone: str = "Asia/Shanghai"
    latitude: float = Field(default=33.0, ge=-90, le=90)
    longitude: float = Field(default=107.0, ge=-180, le=180)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)
        return value


class FleetSpec(_Strict):
    """Many identical devices for load runs, expanded into enterprises `{prefix}-NN`."""

    prefix: str = "load"
    enterprises: int = Field(ge=1)
    devices_per_enterprise: int = Field(ge=1)
    device: DeviceSpec  # its id is the device-name prefix
    industry: str = "load"


class Scenario(_Strict):
    """A whole scenario file."""

    park: ParkSpec
    seed: int = 1
    enterprises: list[EnterpriseSpec] = Field(default_factory=list)
    fleet: FleetSpec | None = None
    faults: list[FaultSpec] = Field(default_factory=list)

    def model_post_init(self, _context: Any) -> None:
        """Expand a fleet into concrete enterprises and devices."""
        if self.fleet is None:
            return
        f = self.fleet
        for e in range(f.enterprises):
            ent_id = f"{f.prefix}-{e:03d}"
            devices = [
                f.device.model_copy(update={"id": f"{ent_id}-{f.device.id}-{d:04d}"})
                for d in range(f.devices_per_enterprise)
            ]
            self.enterprises.append(
                EnterpriseSpec(
                    id=ent_id, name=f"Load enterprise {e}", industry=f.industry, devices=devices
                )
            )

    def devices(self) -> list[tuple[EnterpriseSpec, DeviceSpec]]:
        """Every device with its enterprise, in file order."""
        return [(e, d) for e in self.enterprises for d in e.devices]

    def registry(self) -> dict[str, Any]:
        """The device registry document that `smartpark devices import` reads."""
        enterprises = []
        for ent in self.enterprises:
            devices = []
            for dev in ent.devices:
                entry: dict[str, Any] = {"id": dev.id, "kind": dev.kind or dev.model}
                if dev.name:
                    entry["name"] = dev.name
                if dev.outlet:
                    entry["outlet"] = dev.outlet
                entry["metrics"] = dev.metric_names()
                devices.append(entry)
            enterprises.append(
                {"id": ent.id, "name": ent.name, "industry": ent.industry, "devices": devices}
            )
        park = self.park
        return {
            "parks": [
                {
                    "id": park.id,
                    "name": park.name,
                    "timezone": park.timezone,
                    "enterprises": enterprises,
                }
            ]
        }


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario; ScenarioError names what is wrong."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from exc
    return parse_scenario(doc, str(path))


def parse_scenario(doc: object, source: str) -> Scenario:
    """Validate a loaded scenario document."""
    try:
        scenario = Scenario.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ScenarioError(f"{source}: {where}: {first['msg']}") from None
    ids = {d.id: d for _, d in scenario.devices()}
    if len(ids) != len(scenario.devices()):
        raise ScenarioError(f"{source}: device ids must be unique")
    for i, fault in enumerate(scenario.faults):
        where = f"{source}: faults.{i}"
        if fault.kind != "unknown_device" and fault.device not in ids:
            raise ScenarioError(f"{where}.device: no device {fault.device!r} in the scenario")
        if fault.metric is not None and fault.metric not in ids[fault.device].metric_names():
            raise ScenarioError(f"{where}.metric: {fault.device} does not publish {fault.metric}")
        for field in ("duration", "offset", "every"):
            value = getattr(fault, field)
            if value is not None:
                try:
                    parse_duration(value)
                except ValueError as exc:
                    raise ScenarioError(f"{where}.{field}: {exc}") from None
    return scenario
