"""`smartpark run --simulate`: the demo park's history, its checks, then live data."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from smartpark.alerts.service import Targets
from smartpark.catalogue import Metric
from smartpark.checks.runner import run_range
from smartpark.config import MqttEndpoint, Settings
from smartpark.evaluation.inputs import InputRow, store
from smartpark.evaluation.service import run_evaluation
from smartpark.ingestion.stats import IngestStats
from smartpark.storage.checks import parks

log = logging.getLogger(__name__)
# Messages per second of the demo backfill. The in-process broker (amqtt) waits only 5 s for an
# acknowledgement before it gives up on redelivering a message, and broker, ingestor and API
# share one process here (about 800 msg/s end to end on 2 cores while the simulator runs):
# the backfill stays below that so acknowledgements never lag.
BACKFILL_RATE = 700

# Inputs no sensor measures, entered for the demo so its evaluation has a gate and an index
# (illustrative values for a month of a mid-sized park, marked "demo data").
DEMO_INPUTS = {
    "industrial_value_added": ("10k CNY", 180_000.0), "land_area": ("km2", 12.0),
    "waste_gas_recovery_rate": ("%", 91.0), "recycled_resource_rate": ("%", 78.0),
    "main_pollutant_emissions": ("t", 95.0), "major_accidents_3y": ("count", 0.0),
    "clean_production_audit_share": ("%", 100.0), "energy_emission_targets_met": ("bool", 1.0),
}  # fmt: skip


class DemoPark:
    """Runs the simulator as a separate process that speaks only MQTT: first the backfill,
    then (once ingested) every backfilled hour's checks so alerts have history, then live.
    Device state is kept in the data directory, so a restart uploads only the gap."""

    def __init__(
        self, scenario: Path, endpoint: MqttEndpoint, settings: Settings, backfill: timedelta,
        engine: Engine, catalogue: dict[str, Metric], targets: Targets, stats: IngestStats,
    ) -> None:  # fmt: skip
        self._scenario, self._endpoint, self._settings = scenario, endpoint, settings
        self._backfill, self._engine = backfill, engine
        self._catalogue, self._targets, self._stats = catalogue, targets, stats
        self._state = settings.data_dir / f"sim-state-{scenario.stem}.json"
        self._process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-park", daemon=True)

    def start(self) -> None:
        """Begin in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the simulator."""
        self._stop.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(30)
        self._thread.join(30)

    def _simulator(self, *args: str) -> subprocess.Popen[bytes]:
        command = [
            sys.executable, "-m", "smartpark_sim", "run", str(self._scenario),
            "--broker", self._endpoint.url(), "--state", str(self._state), *args,
        ]  # fmt: skip
        if self._settings.mqtt_protocol == "3.1.1":
            command.append("--mqtt3")
        return subprocess.Popen(command)  # noqa: S603 - our own interpreter and module

    def _run(self) -> None:
        started = datetime.now(UTC)
        hours = int(self._backfill.total_seconds() // 3600)
        if hours > 0 and not self._state.exists():
            rate = str(BACKFILL_RATE)
            self._process = self._simulator("--backfill", f"-{hours}h..now", "--max-rate", rate)
            self._process.wait()
            self._wait_ingested()
            if self._stop.is_set():
                return
            log.info("demo park: evaluating the checks of the %d backfilled hours", hours)
            summary = run_range(
                self._engine, started - self._backfill + timedelta(hours=1), started,
                self._catalogue, self._targets,
            )  # fmt: skip
            log.info("demo park: %d results, %d alerts opened", summary.results, summary.opened)
            self._evaluate(started)
        if not self._stop.is_set():
            self._process = self._simulator("--follow")

    def _evaluate(self, now: datetime) -> None:
        """The current month's evaluation, with demo values for the inputs no sensor gives."""
        with self._engine.begin() as conn:
            for park, timezone in parks(conn):
                label = f"{now.astimezone(ZoneInfo(timezone)):%Y-%m}"
                for key, (unit, value) in DEMO_INPUTS.items():
                    store(conn, InputRow(park, None, label, key, value, unit), "demo")
                evaluation_id = run_evaluation(conn, park, label, now)
                log.info("demo park: evaluation %d of %s for %s", evaluation_id, park, label)

    def _wait_ingested(self) -> None:
        """Until the ingestor has been idle for a moment (the backfill is stored)."""
        last, quiet = -1, 0
        while not self._stop.is_set() and quiet < 3:
            time.sleep(1)
            quiet = (
                quiet + 1 if self._stats.messages == last and self._stats.queue_depth == 0 else 0
            )
            last = self._stats.messages
