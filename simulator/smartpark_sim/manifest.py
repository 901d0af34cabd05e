"""The manifest: exactly what a run published, to reconcile smartpark's database against."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from smartpark_sim.engine import Outgoing
from smartpark_sim.models import COUNTERS

# What smartpark must do with each kind of malformed message: one dead letter each.
DEAD_LETTER_KINDS = frozenset({"malformed", "unknown_device"})


@dataclass(slots=True)
class MetricTally:
    """Per device and metric: stored readings and the counter's consumption."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    flags: dict[str, int] = field(default_factory=dict)
    values: dict[datetime, float] = field(default_factory=dict)  # counters only

    def add(self, t: datetime, value: float, flag: str, counter: bool) -> None:
        self.count += 1
        self.first = t if self.first is None or t < self.first else self.first
        self.last = t if self.last is None or t > self.last else self.last
        self.flags[flag] = self.flags.get(flag, 0) + 1
        if counter:
            self.values[t] = value

    def delta_sum(self) -> float:
        """Consumption in time order, a drop to a lower value being a meter reset."""
        total, previous = 0.0, None
        for t in sorted(self.values):
            value = self.values[t]
            if previous is not None:
                total += value - previous if value >= previous else value
            previous = value
        return total


@dataclass(slots=True)
class DeviceTally:
    """Per device: messages, sequence numbers, statuses, injected faults."""

    messages: int = 0
    duplicates: int = 0
    seqs: set[int] = field(default_factory=set)
    statuses: list[str] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, MetricTally] = field(default_factory=dict)

    def missing(self) -> list[tuple[int, int]]:
        """Sequence ranges never sent between the first and last number sent."""
        ordered = sorted(self.seqs)
        return [(a + 1, b - 1) for a, b in itertools.pairwise(ordered) if b > a + 1]


class Manifest:
    """Accumulates what was actually published."""

    def __init__(self, scenario: str, seed: int, mode: str):
        self.scenario, self.seed, self.mode = scenario, seed, mode
        self.started: datetime | None = None
        self.devices: dict[str, DeviceTally] = {}
        self.dead_letter_messages: dict[str, int] = {}

    def record(self, item: Outgoing) -> None:
        """Account for one published item."""
        if item.kind in DEAD_LETTER_KINDS:
            key = item.fault or item.kind
            self.dead_letter_messages[key] = self.dead_letter_messages.get(key, 0) + 1
            return
        if item.device is None:
            return
        tally = self.devices.setdefault(item.device, DeviceTally())
        if item.kind in ("status", "disconnect"):
            tally.statuses.append("online" if item.kind == "status" else "offline")
        elif item.kind == "connect":
            tally.statuses.append("online")
        elif item.kind == "duplicate":
            tally.duplicates += 1
        elif item.kind == "telemetry":
            tally.messages += 1
            if item.seq is not None:
                tally.seqs.add(item.seq)
            if item.fault:
                for name in item.fault.split(","):
                    tally.faults[name] = tally.faults.get(name, 0) + 1
            assert item.time is not None
            for metric, value, flag in item.readings:
                tally.metrics.setdefault(metric, MetricTally()).add(
                    item.time, value, flag, metric in COUNTERS
                )

    def to_dict(self) -> dict[str, Any]:
        """The manifest as JSON-ready data, with totals smartpark should show."""
        devices = {}
        for device_id, tally in sorted(self.devices.items()):
            missing = tally.missing()
            devices[device_id] = {
                "messages": tally.messages,
                "duplicates_sent": tally.duplicates,
                "seq_first": min(tally.seqs, default=None),
                "seq_last": max(tally.seqs, default=None),
                "seq_missing": [list(r) for r in missing],
                "statuses": tally.statuses,
                "faults": tally.faults,
                "metrics": {
                    metric: {
                        "count": m.count,
                        "first": m.first.isoformat() if m.first else None,
                        "last": m.last.isoformat() if m.last else None,
                        "flags": m.flags,
                        **({"counter_delta_sum": m.delta_sum()} if m.values else {}),
                    }
                    for metric, m in sorted(tally.metrics.items())
                },
            }
        readings = sum(m["count"] for d in devices.values() for m in d["metrics"].values())
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "mode": self.mode,
            "started": self.started.isoformat() if self.started else None,
            "expected": {
                "readings": readings,
                "dead_letters": sum(self.dead_letter_messages.values()),
                "missing_seq": sum(
                    b - a + 1 for d in devices.values() for a, b in d["seq_missing"]
                ),
                "seq_repeats": sum(d["duplicates_sent"] for d in devices.values()),
            },
            "dead_letter_messages": self.dead_letter_messages,
            "devices": devices,
        }

    def write(self, path: Path) -> None:
        """Write the manifest as indented JSON."""
        path.write_bytes(orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2))
