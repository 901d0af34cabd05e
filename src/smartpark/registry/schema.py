"""The registry file format (`smartpark devices import`), validated field by field."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from smartpark.errors import RegistryError, first_problem

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # must be a single MQTT topic level


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceSpec(_Strict):
    """One device and the metrics it may publish."""

    id: str = Field(pattern=_ID)
    kind: str
    name: str | None = None
    outlet: str | None = None
    metrics: list[str] = Field(min_length=1)


class EnterpriseSpec(_Strict):
    """One enterprise and its devices."""

    id: str = Field(pattern=_ID)
    name: str
    industry: str | None = None
    devices: list[DeviceSpec] = Field(default_factory=list)


class ParkSpec(_Strict):
    """One park."""

    id: str = Field(pattern=_ID)
    name: str
    timezone: str | None = None
    enterprises: list[EnterpriseSpec] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value


class RegistryFile(_Strict):
    """The whole file."""

    parks: list[ParkSpec] = Field(min_length=1)


def load_registry_file(path: Path, known_metrics: set[str]) -> RegistryFile:
    """Read and validate a registry file; RegistryError names the offending field."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path} is not valid YAML: {exc}") from exc
    return parse_registry(doc, known_metrics, str(path))


def parse_registry(doc: object, known_metrics: set[str], source: str) -> RegistryFile:
    """Validate an already loaded document."""
    try:
        registry = RegistryFile.model_validate(doc)
    except ValidationError as exc:
        raise RegistryError(first_problem(exc, source)) from None
    seen: dict[tuple[str, str], str] = {}
    for p, park in enumerate(registry.parks):
        for e, enterprise in enumerate(park.enterprises):
            for d, device in enumerate(enterprise.devices):
                where = f"{source}: parks.{p}.enterprises.{e}.devices.{d}"
                unknown = sorted(set(device.metrics) - known_metrics)
                if unknown:
                    raise RegistryError(f"{where}.metrics: unknown metric(s) {', '.join(unknown)}")
                key = (park.id, device.id)
                if key in seen:
                    raise RegistryError(
                        f"{where}.id: device {device.id!r} appears twice in park {park.id!r} "
                        f"(also under {seen[key]!r})"
                    )
                seen[key] = enterprise.id
    return registry
