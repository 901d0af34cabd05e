"""The simulation engine: devices on their schedules, physics, and faults, as outgoing messages."""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from smartpark_sim.models import (
    COUNTERS,
    STEPS,
    DeviceState,
    Pattern,
    StepInput,
    production_level,
    sun_height,
)
from smartpark_sim.scenario import DeviceSpec, EnterpriseSpec, FaultSpec, Scenario, parse_duration

PREFIX = "smartpark"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MISC_CLIENT = "sim-misc"  # publishes malformed messages and those of unknown devices


@dataclass(slots=True)
class Outgoing:
    """One MQTT publish (or a connection change) the runner performs at `send_at`."""

    send_at: datetime
    client: str  # device id, or MISC_CLIENT
    kind: str  # telemetry | duplicate | status | malformed | unknown_device | disconnect | connect
    topic: str = ""
    payload: bytes = b""
    retain: bool = False
    device: str | None = None
    seq: int | None = None
    time: datetime | None = None  # the data time as the device stamps it
    readings: list[tuple[str, float, str]] = field(default_factory=list)  # metric, value, flag
    fault: str | None = None


def aligned(t: datetime, interval: int) -> datetime:
    """The first multiple of `interval` seconds since the epoch at or after t."""
    seconds = (t - EPOCH).total_seconds()
    steps = -(-seconds // interval)
    return EPOCH + timedelta(seconds=steps * interval)


Active = list[tuple[int, FaultSpec, datetime, datetime]]


class DeviceSim:
    """One device: its random source, counters, sequence number and faults."""

    def __init__(
        self, scenario: Scenario, enterprise: EnterpriseSpec, spec: DeviceSpec, run_start: datetime
    ):
        self.spec, self.enterprise = spec, enterprise
        self.topic = f"{PREFIX}/{scenario.park.id}/{enterprise.id}/{spec.id}"
        self.metrics = spec.metric_names()
        self.rng = random.Random(f"{scenario.seed}:{spec.id}")
        self.state = DeviceState()
        self.seq = 0
        self.lat, self.lon = scenario.park.latitude, scenario.park.longitude
        prod = enterprise.production
        self.pattern = Pattern(
            ZoneInfo(scenario.park.timezone),
            tuple((s.start, s.end, s.level) for s in prod.shifts),
            prod.idle, prod.weekend, prod.seasonal, prod.peak_day,
        )  # fmt: skip
        self.faults = [(f, *f.window(run_start)) for f in scenario.faults if f.device == spec.id]
        self.reset_done: set[int] = set()
        self.stuck: dict[tuple[int, str], float] = {}
        self.offline_announced: set[int] = set()

    def snapshot(self) -> dict[str, Any]:
        """State to resume from (seq, counters, random state)."""
        return {
            "seq": self.seq,
            "counters": self.state.counters,
            "cloud": self.state.cloud,
            "rng": self.rng.getstate(),
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Continue where a previous run stopped."""
        self.seq = int(saved["seq"])
        self.state.counters = {k: float(v) for k, v in saved["counters"].items()}
        self.state.cloud = float(saved.get("cloud", 0.0))
        version, internal, gauss = saved["rng"]
        self.rng.setstate((version, tuple(internal), gauss))

    def tick(self, t: datetime) -> list[Outgoing]:
        """The message(s) this device produces for data time t (plus connection changes)."""
        active = [
            (i, f, a, b)
            for i, (f, a, b) in enumerate(self.faults)
            if a <= t < b or (f.kind == "counter_reset" and t >= a)
        ]
        self._reset_counters(active)
        level = production_level(t, self.pattern)
        sun = sun_height(t, self.lat, self.lon)
        x = StepInput(t, self.spec.interval / 3600, level, sun, self.spec.params)
        values = STEPS[self.spec.model](self.state, x, self.rng)
        self.seq += 1
        if any(f.kind == "dropout" for _, f, _, _ in active):
            return []  # the number is used up: smartpark must see a gap
        flags = self._shape(values, active, t)
        stamp, send_at, extra = self._timing(active, t)
        readings = [(m, round(values[m], 6), flags[m]) for m in self.metrics]
        body = [
            {"metric": m, "value": v, **({"flag": f} if f != "N" else {})} for m, v, f in readings
        ]
        payload = orjson.dumps({"ts": stamp.isoformat(), "seq": self.seq, "readings": body})
        names = sorted({f.kind for _, f, _, _ in active})
        message = Outgoing(
            send_at, self.spec.id, "telemetry", f"{self.topic}/telemetry", payload,
            device=self.spec.id, seq=self.seq, time=stamp, readings=readings,
            fault=",".join(names) or None,
        )  # fmt: skip
        out = [*extra, message]
        if "duplicate" in names:
            out.append(dataclasses.replace(message, kind="duplicate", fault="duplicate"))
        return out

    def _reset_counters(self, active: Active) -> None:
        for i, fault, _, _ in active:
            if fault.kind == "counter_reset" and i not in self.reset_done:
                self.reset_done.add(i)
                for metric in [fault.metric] if fault.metric else list(self.state.counters):
                    self.state.counters[metric] = 0.0

    def _shape(self, values: dict[str, float], active: Active, t: datetime) -> dict[str, str]:
        """Faults that change values or flags; returns each metric's flag."""
        flags = dict.fromkeys(self.metrics, "N")
        for i, fault, start, end in active:
            gauges = (
                [fault.metric] if fault.metric else [m for m in self.metrics if m not in COUNTERS]
            )
            if fault.kind == "spike":
                for m in gauges:
                    values[m] *= fault.factor
            elif fault.kind == "drift":
                share = (t - start) / (end - start)
                for m in gauges:
                    values[m] *= 1 + (fault.factor - 1) * share
            elif fault.kind == "stuck":
                for m in gauges:
                    values[m] = self.stuck.setdefault((i, m), values[m])
            elif fault.kind in ("maintenance", "calibration"):
                for m in [fault.metric] if fault.metric else self.metrics:
                    flags[m] = "M" if fault.kind == "maintenance" else "C"
        return flags

    def _timing(self, active: Active, t: datetime) -> tuple[datetime, datetime, list[Outgoing]]:
        """Faults that change the stamped time or when the message goes out."""
        stamp, send_at, extra = t, t, []
        for i, fault, start, end in active:
            if fault.kind == "clock_skew":
                stamp = t + parse_duration(fault.offset)
            elif fault.kind == "offline":
                send_at = end  # buffered on the device, uploaded when it is back
                if i not in self.offline_announced:
                    self.offline_announced.add(i)
                    extra += [
                        Outgoing(start, self.spec.id, "disconnect", device=self.spec.id),
                        Outgoing(end, self.spec.id, "connect", device=self.spec.id),
                    ]
            elif fault.kind == "late":
                send_at = end + (end - t)  # held back, then sent newest first
        return stamp, send_at, extra


def fault_stream(
    scenario: Scenario, fault: FaultSpec, run_start: datetime, t_from: datetime
) -> Iterator[Outgoing]:
    """Periodic malformed messages or messages from an unregistered device."""
    start, end = fault.window(run_start)
    every = parse_duration(fault.every or "1h")
    enterprise, metric = scenario.enterprises[0].id, fault.metric
    for ent, dev in scenario.devices():
        if dev.id == fault.device:
            enterprise, metric = ent.id, metric or dev.metric_names()[0]
    topic = f"{PREFIX}/{scenario.park.id}/{enterprise}/{fault.device}/telemetry"
    t = start
    while t < end:
        if t >= t_from:
            yield Outgoing(
                t,
                MISC_CLIENT,
                fault.kind,
                topic,
                _malformed(fault, t, metric or "water.intake"),
                fault=fault.variant if fault.kind == "malformed" else fault.kind,
            )
        t += every


def _malformed(fault: FaultSpec, t: datetime, metric: str) -> bytes:
    if fault.kind == "unknown_device":
        return orjson.dumps({"ts": t.isoformat(), "readings": [{"metric": metric, "value": 1.0}]})
    if fault.variant == "bad_json":
        return b'{"ts": "' + t.isoformat().encode() + b'", "readings": [{"metric": '
    if fault.variant == "no_timestamp":
        return orjson.dumps({"readings": [{"metric": metric, "value": 1.0}]})
    if fault.variant == "unknown_metric":
        return orjson.dumps(
            {"ts": t.isoformat(), "readings": [{"metric": "made.up.metric", "value": 1.0}]}
        )
    return orjson.dumps(
        {"ts": t.isoformat(), "readings": [{"metric": metric, "value": 1.0, "unit": "bananas"}]}
    )


class Engine:
    """Merges every device's schedule and the fault streams into one stream by data time."""

    def __init__(
        self, scenario: Scenario, run_start: datetime, saved: dict[str, Any] | None = None
    ):
        self.scenario = scenario
        self.run_start = run_start
        self.devices = {d.id: DeviceSim(scenario, e, d, run_start) for e, d in scenario.devices()}
        for device_id, state in (saved or {}).items():
            if device_id in self.devices:
                self.devices[device_id].restore(state)

    def snapshot(self) -> dict[str, Any]:
        """Every device's resumable state."""
        return {device_id: sim.snapshot() for device_id, sim in self.devices.items()}

    def status_messages(self, at: datetime) -> list[Outgoing]:
        """Each device announces itself online (retained) when it connects."""
        return [
            Outgoing(at, d, "status", f"{sim.topic}/status", b"online", retain=True, device=d)
            for d, sim in self.devices.items()
        ]

    def generate(self, t_from: datetime, t_to: datetime | None) -> Iterator[Outgoing]:
        """Messages with data time in [t_from, t_to) in data-time order (t_to None: endless)."""
        heap: list[tuple[datetime, int, str]] = []
        for order, (device_id, sim) in enumerate(self.devices.items()):
            heapq.heappush(heap, (aligned(t_from, sim.spec.interval), order, device_id))
        streams = [
            fault_stream(self.scenario, f, self.run_start, t_from)
            for f in self.scenario.faults
            if f.kind in ("malformed", "unknown_device")
        ]
        pending = [item for s in streams for item in s if t_to is None or item.send_at < t_to]
        pending.sort(key=lambda o: o.send_at)
        index = 0
        while heap:
            t, order, device_id = heapq.heappop(heap)
            if t_to is not None and t >= t_to:
                break
            while index < len(pending) and pending[index].send_at <= t:
                yield pending[index]
                index += 1
            sim = self.devices[device_id]
            yield from sim.tick(t)
            heapq.heappush(heap, (t + timedelta(seconds=sim.spec.interval), order, device_id))
        yield from pending[index:]
