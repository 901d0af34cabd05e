"""The single writer thread: bounded queue in, batched commits, acks only after commit."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.dead_letters import DeadLetterBudget, DeadLetterPolicy, dead_letter
from smartpark.ingestion.registry_cache import RegistryCache
from smartpark.ingestion.sequence import Observation
from smartpark.ingestion.stats import IngestStats
from smartpark.ingestion.types import Limits, ParseContext, Parsed, Rejection
from smartpark.storage.readings import Batch, BatchResult, store_batch

log = logging.getLogger(__name__)


class Inbound(NamedTuple):
    """An MQTT message as received, with what is needed to acknowledge it later."""

    # A tuple: one is built per message on paho's thread (see ingestion.types.Reading).

    topic: str
    payload: bytes
    received_at: datetime
    mid: int
    qos: int
    dup: bool
    epoch: int  # which connection delivered it; acks for older connections are not sent


@dataclass(frozen=True, slots=True)
class WriterConfig:
    """Batching and retry settings."""

    batch_max_messages: int
    batch_max_wait: float
    queue_max_messages: int
    retry_initial: float
    retry_max: float
    limits: Limits
    prefix: str
    dead_letters: DeadLetterPolicy
    max_open_gaps: int  # per device; the oldest open sequence gap beyond it is expired


class Writer:
    """Drains the queue into batches, stores each in one transaction, then acknowledges it."""

    def __init__(
        self,
        config: WriterConfig,
        connect: Callable[[], psycopg.Connection[Any]],
        registry: RegistryCache,
        ack: Callable[[list[Inbound]], None],
        stats: IngestStats,
    ) -> None:
        self._config = config
        self._connect = connect
        self._registry = registry
        self._ack = ack
        self.stats = stats
        self._queue: queue.Queue[Inbound] = queue.Queue(config.queue_max_messages)
        self._stop = threading.Event()
        self.failed = False
        self._conn: psycopg.Connection[Any] | None = None
        self._budget = DeadLetterBudget(config.dead_letters.budget_per_minute)
        self._thread = threading.Thread(target=self._run, name="smartpark-writer", daemon=True)

    def put(self, message: Inbound) -> None:
        """Hand a message over; blocks when the queue is full (back-pressure on the broker)."""
        self._queue.put(message)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> bool:
        """Store and acknowledge everything queued, then stop; False if that did not finish."""
        self._stop.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while True:
                batch = self._collect()
                if batch:
                    self._commit(batch)
                elif self._stop.is_set():
                    break
        except BaseException:
            # Unacknowledged messages stay with the broker; the process must exit so that a
            # supervisor restarts it rather than leave a consumer that no longer consumes.
            log.critical(
                "writer thread failed; nothing after the last commit was acknowledged",
                exc_info=True,
            )
            self.failed = True
            raise
        finally:
            self._drop_connection()
        log.info("writer stopped; queue drained")

    def _collect(self) -> list[Inbound]:
        """Up to batch_max_messages, waiting at most batch_max_wait after the first."""
        # Depth is sampled per batch, not per message (qsize takes the queue's lock): the
        # queue is at its fullest when the writer comes back from storing the last batch.
        self.stats.max_queue_depth = max(self.stats.max_queue_depth, self._queue.qsize())
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._config.batch_max_wait
        while len(batch) < self._config.batch_max_messages:
            remaining = deadline - time.monotonic()
            try:
                if remaining > 0:
                    batch.append(self._queue.get(timeout=remaining))
                else:  # past the deadline: take only what is already waiting
                    batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self.stats.queue_depth = self._queue.qsize()
        return batch

    def _commit(self, messages: list[Inbound]) -> None:
        """Store with retries on operational errors; acknowledge only what was committed."""
        delay = self._config.retry_initial
        # Parsed once: a retry stores the same batch, and spends no dead-letter budget again.
        batch = self._build(messages)
        one_by_one = False
        while True:
            started = time.monotonic()
            try:
                result = self._store_isolated(messages) if one_by_one else self._store_batch(batch)
            except psycopg.OperationalError as exc:
                # Also while storing one by one: the database went away, not the input.
                self._drop_connection()
                self.stats.retries += 1
                log.warning(
                    "database unavailable (%s); retrying %d messages in %.1fs",
                    exc,
                    len(messages),
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, self._config.retry_max)
                continue
            except psycopg.Error:
                if one_by_one:
                    raise  # _store_isolated confines every message's error: this is ours
                log.exception("batch of %d messages failed; storing them one by one", len(messages))
                self._drop_connection()
                one_by_one = True
                continue
            self.stats.record(result, len(messages), time.monotonic() - started)
            self._ack(messages)
            return

    def _store_isolated(self, messages: list[Inbound]) -> BatchResult:
        """One transaction per message; a message that still fails is dead-lettered whole."""
        total = BatchResult(0, 0, 0, 0, 0)
        for message in messages:
            try:
                total += self._store_batch(self._build([message], budgeted=False))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                self._drop_connection()
                total += self._last_resort(message, exc)
        return total

    def _last_resort(self, message: Inbound, error: psycopg.Error) -> BatchResult:
        """The message whole as a dead letter naming the database's error."""
        failed = Parsed(rejections=[Rejection(f"storage error: {error}")])
        letter = dead_letter(
            failed,
            message.topic,
            message.payload,
            received_at=message.received_at,
            policy=self._config.dead_letters,
        )
        try:
            return self._store_batch(Batch(dead_letters=[letter]))
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            # Not even its dead letter can be stored: let this one message go, loudly, rather
            # than stop every park's ingestion on it (the broker would redeliver it forever).
            self._drop_connection()
            self.stats.unstorable += 1
            log.error(
                "a message on %s (%d bytes, sha256 %s) could not be stored even as a dead "
                "letter: %s",
                letter.topic,
                letter.payload_size,
                letter.payload_sha256,
                exc,
            )
            return BatchResult(0, 0, 0, 0, 0)

    def _store_batch(self, batch: Batch) -> BatchResult:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return store_batch(
            self._conn, batch, datetime.now(UTC), max_open_gaps=self._config.max_open_gaps
        )

    def _build(self, messages: list[Inbound], *, budgeted: bool = True) -> Batch:
        """Parse every message into one Batch of readings, dead letters and device updates."""
        batch = Batch()
        ctx = ParseContext(self._registry.snapshot, self._config.limits, self._config.prefix)
        for message in messages:
            parsed = parse_message(message.topic, message.payload, ctx, message.received_at)
            if parsed.device is None and self._registry.refresh_if_stale():
                # A device imported a moment ago: look again with the fresh registry.
                ctx = ParseContext(self._registry.snapshot, ctx.limits, ctx.prefix)
                parsed = parse_message(message.topic, message.payload, ctx, message.received_at)
            batch.readings.extend(parsed.readings)
            if parsed.rejections:
                self._reject(batch, message, parsed, budgeted=budgeted)
            if parsed.device is None:
                continue
            device_id = parsed.device.id
            seen = batch.last_seen.get(device_id)
            if seen is None or message.received_at > seen:
                batch.last_seen[device_id] = message.received_at
            if parsed.seq is not None:
                latest = max((r.time for r in parsed.readings), default=None)
                batch.observations.append(Observation(device_id, parsed.seq, message.dup, latest))
            if parsed.status is not None:
                batch.statuses.append((device_id, parsed.status, message.received_at))
        return batch

    def _reject(self, batch: Batch, message: Inbound, parsed: Parsed, *, budgeted: bool) -> None:
        """One dead letter for the message, or only a count once its sender spent the budget."""
        policy = self._config.dead_letters
        if budgeted and not self._budget.allow(parsed, at=message.received_at):
            self.stats.dead_letters_dropped += 1
            if parsed.device is not None:
                batch.dropped[parsed.device.id] = batch.dropped.get(parsed.device.id, 0) + 1
            return
        batch.dead_letters.append(
            dead_letter(
                parsed,
                message.topic,
                message.payload,
                received_at=message.received_at,
                policy=policy,
            )
        )

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None
