"""Per-device sequence tracking: gaps, repeats and restarts, as a pure function of state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


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
    """A message's sequence number in arrival order, its data time and MQTT's redelivery flag."""

    device_id: int
    seq: int
    dup: bool
    time: datetime | None = None


@dataclass(slots=True)
class SeqState:
    """What is remembered per device: the highest and first sequence seen, and its time."""

    last: int | None = None
    last_time: datetime | None = None
    first: int | None = None


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

    states: dict[int, SeqState] = field(default_factory=dict)  # only the changed ones
    gaps: list[Gap] = field(default_factory=list)  # new gaps and filled old ones
    events: list[Event] = field(default_factory=list)


def track(
    states: dict[int, SeqState], open_gaps: dict[int, list[Gap]], observations: list[Observation]
) -> Outcome:
    """Apply observations to the devices' sequence state and open gaps.

    Above the last number: continue, or open a gap. At or below it: fill an open gap (a late
    upload); ignore an MQTT redelivery (already a no-op in storage); a restart when the data
    time moved forward (the device rebooted and counts anew); ignore an older message from
    before the first number we ever saw (ingestors sharing a subscription commit out of
    order); otherwise a repeat (the device sent a number twice).
    """
    out = Outcome()
    current = {d: SeqState(s.last, s.last_time, s.first) for d, s in states.items()}
    gaps = {device: list(items) for device, items in open_gaps.items()}
    changed: set[int] = set()
    for obs in observations:
        state = current.setdefault(obs.device_id, SeqState())
        seq = obs.seq
        if state.last is None or seq > state.last:
            if state.last is not None and seq > state.last + 1:
                gap = Gap(obs.device_id, state.last + 1, seq - 1, changed=True)
                gaps.setdefault(obs.device_id, []).append(gap)
                out.gaps.append(gap)
            _advance(state, seq, obs.time)
            changed.add(obs.device_id)
            continue
        late = next((g for g in gaps.get(obs.device_id, ()) if g.contains(seq)), None)
        if late is not None:
            late.filled += 1
            if not late.changed:
                late.changed = True
                out.gaps.append(late)
        elif obs.dup:
            continue
        elif obs.time is not None and state.last_time is not None and obs.time > state.last_time:
            out.events.append(Event(obs.device_id, "seq_reset", state.last, seq))
            state.last, state.last_time, state.first = seq, obs.time, seq
            changed.add(obs.device_id)
        elif state.first is not None and seq < state.first:
            continue
        else:
            out.events.append(Event(obs.device_id, "seq_repeat", seq, seq))
    out.states = {d: current[d] for d in sorted(changed)}
    return out


def _advance(state: SeqState, seq: int, time: datetime | None) -> None:
    state.last = seq
    if state.first is None:
        state.first = seq
    if time is not None and (state.last_time is None or time > state.last_time):
        state.last_time = time
