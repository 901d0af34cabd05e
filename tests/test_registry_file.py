"""Registry files: valid ones load, invalid ones are refused naming the field."""

from __future__ import annotations

import pytest

from smartpark.catalogue import load_catalogue
from smartpark.errors import RegistryError
from smartpark.registry.schema import parse_registry

KNOWN = set(load_catalogue())


def doc(device: dict[str, object], tz: str = "Asia/Shanghai") -> dict[str, object]:
    return {
        "parks": [
            {
                "id": "p",
                "name": "P",
                "timezone": tz,
                "enterprises": [{"id": "e", "name": "E", "devices": [device]}],
            }
        ]
    }


def test_valid_file() -> None:
    registry = parse_registry(
        doc({"id": "d1", "kind": "meter", "metrics": ["water.intake"]}), KNOWN, "f"
    )
    assert registry.parks[0].enterprises[0].devices[0].metrics == ["water.intake"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            doc({"id": "d1", "kind": "m", "metrics": ["water.bogus"]}),
            "f: parks.0.enterprises.0.devices.0.metrics: unknown metric(s) water.bogus",
        ),
        (
            doc({"id": "d/1", "kind": "m", "metrics": ["water.intake"]}),
            "f: parks.0.enterprises.0.devices.0.id: String should match pattern",
        ),
        (
            doc({"id": "d1", "kind": "m", "metrics": []}),
            "f: parks.0.enterprises.0.devices.0.metrics: List should have at least 1 item",
        ),
        (
            doc({"id": "d1", "kind": "m", "metrics": ["water.intake"], "colour": "red"}),
            "f: parks.0.enterprises.0.devices.0.colour: Extra inputs are not permitted",
        ),
        (
            doc({"id": "d1", "kind": "m", "metrics": ["water.intake"]}, tz="Mars/Olympus"),
            "f: parks.0.timezone: Value error, unknown time zone 'Mars/Olympus'",
        ),
        ({"parks": []}, "f: parks: List should have at least 1 item"),
    ],
)
def test_invalid_files_name_the_field(document: object, message: str) -> None:
    with pytest.raises(RegistryError) as err:
        parse_registry(document, KNOWN, "f")
    assert str(err.value).startswith(message)


def test_duplicate_device_in_a_park() -> None:
    document = doc({"id": "d1", "kind": "m", "metrics": ["water.intake"]})
    enterprises = document["parks"][0]["enterprises"]  # type: ignore[index]
    enterprises.append(
        {
            "id": "e2",
            "name": "E2",
            "devices": [{"id": "d1", "kind": "m", "metrics": ["water.intake"]}],
        }
    )
    with pytest.raises(
        RegistryError, match="device 'd1' appears twice in park 'p' \\(also under 'e'\\)"
    ):
        parse_registry(document, KNOWN, "f")
