"""The ingestor's registry snapshot, refreshed periodically and when an unknown device appears."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from smartpark.ingestion.types import Registry

log = logging.getLogger(__name__)


class RegistryCache:
    """Holds the current snapshot; `refresh_if_stale` reloads it at most every `min_interval`."""

    def __init__(self, load: Callable[[], Registry], max_age: float, min_interval: float = 1.0):
        self._load = load
        self._max_age = max_age
        self._min_interval = min_interval
        self._lock = threading.Lock()
        self._snapshot = load()
        self._loaded_at = time.monotonic()

    @property
    def snapshot(self) -> Registry:
        """The current registry, reloaded when older than max_age."""
        if time.monotonic() - self._loaded_at > self._max_age:
            self.refresh_if_stale()
        return self._snapshot

    def refresh_if_stale(self) -> bool:
        """Reload unless we did within min_interval (an unknown device must not hammer the DB)."""
        with self._lock:
            if time.monotonic() - self._loaded_at < self._min_interval:
                return False
            try:
                self._snapshot = self._load()
            except Exception:  # keep serving the old snapshot; the database may be down
                log.warning("registry refresh failed; keeping the previous snapshot", exc_info=True)
                return False
            finally:
                self._loaded_at = time.monotonic()
            return True
