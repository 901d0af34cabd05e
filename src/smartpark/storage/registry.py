"""Registry and catalogue queries: upserts from files, snapshots for the ingestor."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert

from smartpark.catalogue import Metric as CatalogueMetric
from smartpark.ingestion.types import DeviceRef, MetricRef, Registry
from smartpark.models import Device, DeviceMetric, Enterprise, Metric, Park
from smartpark.registry.schema import RegistryFile


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """How many rows an import touched."""

    parks: int
    enterprises: int
    devices: int


def sync_metrics(conn: Connection, catalogue: dict[str, CatalogueMetric]) -> None:
    """Make the metric table match the catalogue (ids of existing metrics never change)."""
    for metric in catalogue.values():
        stmt = insert(Metric).values(
            name=metric.name,
            unit=metric.unit,
            kind=metric.kind.value,
            description=metric.description,
            minimum=metric.minimum,
            maximum=metric.maximum,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[Metric.name],
                set_={
                    "unit": metric.unit,
                    "kind": metric.kind.value,
                    "description": metric.description,
                    "minimum": metric.minimum,
                    "maximum": metric.maximum,
                },
            )
        )


def metric_ids(conn: Connection) -> dict[str, int]:
    """Metric ids by name."""
    return {name: mid for name, mid in conn.execute(select(Metric.name, Metric.id))}


def import_registry(
    conn: Connection, registry: RegistryFile, default_timezone: str
) -> ImportSummary:
    """Upsert parks, enterprises and devices; a device's metric list is replaced."""
    ids = metric_ids(conn)
    enterprises = devices = 0
    for park in registry.parks:
        zone = park.timezone or default_timezone
        conn.execute(
            insert(Park)
            .values(id=park.id, name=park.name, timezone=zone)
            .on_conflict_do_update(
                index_elements=[Park.id], set_={"name": park.name, "timezone": zone}
            )
        )
        for ent in park.enterprises:
            enterprise_id = conn.execute(
                insert(Enterprise)
                .values(park_id=park.id, code=ent.id, name=ent.name, industry=ent.industry)
                .on_conflict_do_update(
                    index_elements=[Enterprise.park_id, Enterprise.code],
                    set_={"name": ent.name, "industry": ent.industry},
                )
                .returning(Enterprise.id)
            ).scalar_one()
            enterprises += 1
            for dev in ent.devices:
                values = {
                    "enterprise_id": enterprise_id,
                    "name": dev.name,
                    "kind": dev.kind,
                    "outlet": dev.outlet,
                }
                device_id = conn.execute(
                    insert(Device)
                    .values(park_id=park.id, code=dev.id, **values)
                    .on_conflict_do_update(
                        index_elements=[Device.park_id, Device.code], set_=values
                    )
                    .returning(Device.id)
                ).scalar_one()
                conn.execute(delete(DeviceMetric).where(DeviceMetric.device_id == device_id))
                conn.execute(
                    insert(DeviceMetric),
                    [
                        {"device_id": device_id, "metric_id": ids[m]}
                        for m in sorted(set(dev.metrics))
                    ],
                )
                devices += 1
    return ImportSummary(len(registry.parks), enterprises, devices)


def load_snapshot(conn: Connection) -> Registry:
    """Every device and metric, as the ingestor's parser sees them."""
    metrics = {
        name: MetricRef(mid, unit, low, high)
        for mid, name, unit, low, high in conn.execute(
            select(Metric.id, Metric.name, Metric.unit, Metric.minimum, Metric.maximum)
        )
    }
    allowed: dict[int, set[int]] = {}
    for device_id, metric_id in conn.execute(
        select(DeviceMetric.device_id, DeviceMetric.metric_id)
    ):
        allowed.setdefault(device_id, set()).add(metric_id)
    rows = conn.execute(
        select(Device.id, Device.park_id, Enterprise.code, Device.code).join(
            Enterprise, Enterprise.id == Device.enterprise_id
        )
    )
    devices = {
        (park, code): DeviceRef(did, park, enterprise, code, frozenset(allowed.get(did, ())))
        for did, park, enterprise, code in rows
    }
    return Registry(devices, metrics)


def park_timezone(conn: Connection, park: str) -> str:
    """A park's IANA time zone."""
    return str(conn.execute(select(Park.timezone).where(Park.id == park)).scalar_one())
