"""Prometheus metrics: the ingestor's counters, check durations, and alert and dead-letter
counts read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, text

from smartpark.ingestion.stats import IngestStats

CHECK_SECONDS = Histogram(
    "smartpark_check_run_seconds", "Duration of one evaluation of a park's checks",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)  # fmt: skip


class IngestCollector(Collector):
    """The in-process ingestor's counters."""

    def __init__(self, stats: IngestStats):
        self._stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._stats
        for name, value, doc in (
            ("messages", s.messages, "MQTT messages stored and acknowledged"),
            ("readings_inserted", s.inserted, "Readings inserted"),
            ("readings_duplicate", s.duplicates, "Readings that were already stored (no-ops)"),
            ("readings_conflict", s.conflicts, "Readings with a different value for a stored key"),
            ("dead_letters", s.dead_letters, "Messages dead-lettered (one row each)"),
            (
                "dead_letters_dropped",
                s.dead_letters_dropped,
                "Dead letters only counted: their sender had spent its per-minute budget",
            ),
            (
                "unstorable",
                s.unstorable,
                "Messages the database refused even as a dead letter (each one logged)",
            ),
            ("batches", s.batches, "Committed batches"),
            ("retries", s.retries, "Batch retries after database errors"),
        ):
            yield CounterMetricFamily(f"smartpark_ingest_{name}", doc, value=value)
        yield GaugeMetricFamily(
            "smartpark_ingest_queue_depth", "Messages waiting for the writer", value=s.queue_depth
        )
        yield GaugeMetricFamily(
            "smartpark_ingest_last_batch_seconds",
            "Duration of the last batch commit",
            value=s.last_batch_seconds,
        )


class DatabaseCollector(Collector):
    """Counts that live in the database: alerts by state and severity, dead letters."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        alerts = GaugeMetricFamily(
            "smartpark_alerts", "Alerts by state and severity", labels=["state", "severity"]
        )
        with self._engine.connect() as conn:
            for state, severity, n in conn.execute(
                text("SELECT state, severity, count(*) FROM alert GROUP BY 1, 2 ORDER BY 1, 2")
            ):
                alerts.add_metric([state, severity], n)
            dead = conn.execute(text("SELECT count(*) FROM dead_letter")).scalar_one()
        yield alerts
        yield GaugeMetricFamily("smartpark_dead_letters", "Dead letters stored", value=dead)


def exposition(engine: Engine, stats: IngestStats | None) -> bytes:
    """The Prometheus text format for one scrape."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    registry.register(_Forward(CHECK_SECONDS))
    if stats is not None:
        registry.register(IngestCollector(stats))
    return bytes(generate_latest(registry))


class _Forward(Collector):
    """Exposes a metric of the default registry in a per-scrape registry."""

    def __init__(self, metric: Histogram):
        self._metric = metric

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        yield from self._metric.collect()
