"""Per-device sequence tracking: gaps, repeats and restarts, as a pure function of state."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Gap:
    """Missing sequence numbers [seq_from, seq_to]; `filled` of them arrived late."""

    device_id: int
    seq_from: int
    seq_to: int
    filled: int = 0
    id: int | None = None  # None until stored
    changed: bool = False

    @property
    def size(self) -> int:
        """How many numbers the gap spans."""
        return self.seq_to - self.seq_from + 1

    def contains(self, seq: int) -> bool:
        """Whether `seq` lies in the gap and could still arrive."""
        return self.seq_from <= seq <= self.seq_to and self.filled < self.size


@dataclass(frozen=True, slots=True)
class Observation:
    """A message's sequence number, in arrival order; `dup` is MQTT's redelivery flag."""

    device_id: int
    seq: int
    dup: bool


@dataclass(frozen=True, slots=True)
class Event:
    """A repeat or restart to record (gaps are returned as Gap objects)."""

    device_id: int
    kind: str
    seq_from: int
    seq_to: int


@dataclass(slots=True)
class Outcome:
    """What a batch of observations changes."""

    last_seq: dict[int, int] = field(default_factory=dict)
    gaps: list[Gap] = field(default_factory=list)  # new gaps and filled old ones
    events: list[Event] = field(default_factory=list)


def track(
    last_seq: dict[int, int | None],
    open_gaps: dict[int, list[Gap]],
    observations: list[Observation],
) -> Outcome:
    """Apply observations to the devices' last sequence numbers and open gaps.

    seq == last + 1 continues; seq > last + 1 opens a gap; seq <= last fills an open gap
    (a late upload), or is ignored if MQTT marked it a redelivery (our own effectively-once
    path already made it a no-op), or restarts the sequence when it is 0 or 1 (a device
    reboot), or else is a repeat (the device sent the same number twice).
    """
    out = Outcome()
    last = dict(last_seq)
    gaps = {device: list(items) for device, items in open_gaps.items()}
    for obs in observations:
        previous = last.get(obs.device_id)
        seq = obs.seq
        if previous is None or seq == previous + 1:
            last[obs.device_id] = seq
        elif seq > previous + 1:
            gap = Gap(obs.device_id, previous + 1, seq - 1, changed=True)
            gaps.setdefault(obs.device_id, []).append(gap)
            out.gaps.append(gap)
            last[obs.device_id] = seq
        else:
            late = next((g for g in gaps.get(obs.device_id, ()) if g.contains(seq)), None)
            if late is not None:
                late.filled += 1
                if not late.changed:
                    late.changed = True
                    out.gaps.append(late)
            elif obs.dup:
                continue
            elif seq <= 1:
                out.events.append(Event(obs.device_id, "seq_reset", previous, seq))
                last[obs.device_id] = seq
            else:
                out.events.append(Event(obs.device_id, "seq_repeat", seq, seq))
    out.last_seq = {d: s for d, s in last.items() if s is not None and last_seq.get(d) != s}
    return out
