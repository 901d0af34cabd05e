"""A writer thread that dies for a reason other than input takes the process down loudly."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NoReturn, cast

import pytest

from smartpark.cli import _wait_for_signal
from smartpark.config import Settings
from smartpark.ingestion.registry_cache import RegistryCache
from smartpark.ingestion.service import writer_config
from smartpark.ingestion.stats import IngestStats
from smartpark.ingestion.types import Registry
from smartpark.ingestion.writer import Inbound, Writer
from tests.services import wait_until


def _broken_database() -> NoReturn:
    raise RuntimeError("not a database error: a bug")


# The thread's exception is the point of the test; pytest reports it as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_writer_that_dies_fails_the_process_instead_of_idling() -> None:
    config = writer_config(Settings(database_url="postgresql://unused", mqtt_url="mqtt://x"))
    registry = RegistryCache(lambda: Registry({}, {}), 30.0)
    acked: list[Inbound] = []
    writer = Writer(config, _broken_database, registry, acked.extend, IngestStats())
    writer.start()
    now = datetime.now(UTC)
    writer.put(Inbound("smartpark/p/e/d/telemetry", b"{}", now, 1, 1, False, 1))
    wait_until(lambda: not writer.alive, timeout=10)
    assert writer.failed and acked == []  # nothing acknowledged: the broker redelivers it
    started = time.monotonic()
    ingestor = cast(Any, SimpleNamespace(writer=writer))
    assert _wait_for_signal(ingestor) is False  # `smartpark ingest` then exits with 1
    assert time.monotonic() - started < 5
