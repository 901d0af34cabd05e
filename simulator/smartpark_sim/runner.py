"""Runs an engine against a fleet: backfill as fast as the broker takes it, or paced by a clock."""

from __future__ import annotations

import heapq
import itertools
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from smartpark_sim.engine import MISC_CLIENT, Engine, Outgoing
from smartpark_sim.manifest import Manifest
from smartpark_sim.publisher import Fleet

log = logging.getLogger(__name__)


class Progress:
    """A one-line progress report on stderr for backfills."""

    def __init__(self, t_from: datetime, t_to: datetime | None, enabled: bool):
        self.t_from, self.t_to, self.enabled = t_from, t_to, enabled
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, t: datetime, sent: int, final: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.5 and not final) or self.t_to is None:
            return
        self.last = now
        share = min(max((t - self.t_from) / (self.t_to - self.t_from), 0.0), 1.0)
        bar = "#" * int(share * 30)
        rate = sent / max(now - self.started, 1e-9)
        line = f"\r[{bar:<30}] {share:6.1%} {sent:,} msgs {rate:,.0f} msg/s"
        sys.stderr.write(line + ("\n" if final else ""))
        sys.stderr.flush()


def run(
    engine: Engine,
    fleet: Fleet,
    manifest: Manifest,
    t_from: datetime,
    t_to: datetime | None,
    *,
    live_from: datetime | None = None,
    speed: float = 1.0,
    max_rate: float | None = None,
    stop: threading.Event | None = None,
    progress: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Publish engine.generate(t_from, t_to). Items with send time before `live_from` (or all,
    when it is None) go out at once; later ones wait for a clock running `speed` times real
    time from `live_from`; `max_rate` caps the messages per second of what goes out at once.
    Returns the number of items published."""
    stop = stop or threading.Event()
    fleet.connect(MISC_CLIENT, None)
    for device_id, sim in engine.devices.items():
        fleet.connect(device_id, f"{sim.topic}/status")
    fleet.wait_connected()
    start = live_from or t_from
    manifest.started = datetime.now(UTC)
    for item in engine.status_messages(start):
        fleet.send(item)
        manifest.record(item)
    wall0 = clock()
    bar = Progress(t_from, t_to, progress)
    held: list[tuple[datetime, int, Outgoing]] = []
    counter = itertools.count()
    sent = 0

    def release(until: datetime) -> None:
        nonlocal sent
        while held and held[0][0] <= until:
            _, _, item = heapq.heappop(held)
            if live_from is not None and item.send_at > live_from:
                paced = (item.send_at - live_from).total_seconds() / speed - (clock() - wall0)
                # Simulated time never overtakes the present: devices do not send the future.
                present = (item.send_at - datetime.now(UTC)).total_seconds()
                delay = max(paced, present)
                if delay > 0 and stop.wait(delay):
                    return
            elif max_rate is not None:
                ahead = sent / max_rate - (clock() - wall0)
                if ahead > 0 and stop.wait(ahead):
                    return
            fleet.send(item)
            manifest.record(item)
            sent += 1

    items: Iterable[Outgoing] = engine.generate(t_from, t_to)
    for item in items:
        if stop.is_set():
            break
        heapq.heappush(held, (item.send_at, next(counter), item))
        # Everything due by this data time can go: later data never has an earlier send time
        # (buffered and late messages only move later).
        release(item.time or item.send_at)
        bar.update(item.send_at, sent)
    if not stop.is_set():
        release(datetime.max.replace(tzinfo=UTC))
    fleet.flush()
    bar.update(t_to or t_from, sent, final=True)
    return sent


def parse_range(text: str, now: datetime) -> tuple[datetime, datetime]:
    """'FROM..TO' with ISO times, 'now', or offsets like -3d, -12h."""
    if ".." not in text:
        raise ValueError(f"backfill range {text!r} must look like FROM..TO")
    a, b = text.split("..", 1)
    return parse_time(a, now), parse_time(b, now)


def parse_time(text: str, now: datetime) -> datetime:
    """An ISO time with offset, 'now', or an offset from now."""
    from smartpark_sim.scenario import parse_duration

    text = text.strip()
    if text == "now":
        return now
    if text[:1] in "+-" and text[-1:] in "smhd":
        return now + parse_duration(text)
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"time {text!r} needs a UTC offset")
    return value.astimezone(UTC)


def floor_minute(t: datetime) -> datetime:
    """t without seconds, so reruns with the same range align."""
    return t.replace(second=0, microsecond=0) - timedelta(0)
