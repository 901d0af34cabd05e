"""A thread that records a component's heartbeat in the database every few seconds."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from smartpark.storage.health import beat, forget

log = logging.getLogger(__name__)


def instance_name(suffix: str = "") -> str:
    """host:pid, the name a process reports under."""
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


class Heartbeat:
    """Writes `probe()` as the state of (`kind`, `instance`) every `interval` seconds."""

    def __init__(
        self, engine: Engine, kind: str, probe: Callable[[], dict[str, Any]], interval: float
    ) -> None:
        self._engine, self._kind, self._probe, self._interval = engine, kind, probe, interval
        self.instance = instance_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{kind}", daemon=True)

    def start(self) -> None:
        """Beat now and then every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the heartbeat (a clean stop is not a failure)."""
        self._stop.set()
        self._thread.join(5)
        try:
            with self._engine.begin() as conn:
                forget(conn, self._kind, self.instance)
        except SQLAlchemyError as exc:
            log.warning("could not remove the %s heartbeat: %s", self._kind, exc)

    def _run(self) -> None:
        while True:
            try:
                with self._engine.begin() as conn:
                    beat(conn, self._kind, self.instance, self._probe(), datetime.now(UTC))
            except SQLAlchemyError as exc:
                # The database being away is reported by /readyz itself; keep trying.
                log.debug("heartbeat of %s not recorded: %s", self._kind, exc)
            if self._stop.wait(self._interval):
                return
