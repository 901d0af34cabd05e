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
    # Set when the gap stops being open: 'filled' (every number arrived) or 'expired'
    # (pushed out by a newer gap beyond the device's cap).
    closed_reason: str | None = None

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
    gaps: list[Gap] = field(default_factory=list)  # new gaps and changed (filled, closed) ones
    events: list[Event] = field(default_factory=list)


def track(
    states: dict[int, SeqState],
    open_gaps: dict[int, list[Gap]],
    observations: list[Observation],
    *,
    max_open_gaps: int,
) -> Outcome:
    """Apply observations to the devices' sequence state and open gaps.

    Above the last number: continue, or open a gap. At or below it: fill an open gap (a late
    upload); ignore an MQTT redelivery (already a no-op in storage); a restart when the data
    time moved forward (the device rebooted and counts anew); ignore an older message from
    before the first number we ever saw (ingestors sharing a subscription commit out of
    order); otherwise a repeat (the device sent a number twice).

    A gap closes as 'filled' when its last number arrives. A device keeps at most
    `max_open_gaps` open gaps (`open_gaps` lists them oldest first): opening one more closes
    the oldest as 'expired', so a late number from it is no longer a fill but falls to the
    rules above (a repeat, or ignored). Capping as each gap opens, not per batch, makes the
    result the same however the observations are split into batches.
    """
    out = Outcome()
    current = {d: SeqState(s.last, s.last_time, s.first) for d, s in states.items()}
    gaps: dict[int, list[Gap]] = {}
    for device, items in open_gaps.items():
        gaps[device] = list(items)
        _expire_beyond(gaps[device], out, cap=max_open_gaps)
    changed: set[int] = set()
    for obs in observations:
        state = current.setdefault(obs.device_id, SeqState())
        seq = obs.seq
        if state.last is None or seq > state.last:
            if state.last is not None and seq > state.last + 1:
                gap = Gap(obs.device_id, state.last + 1, seq - 1, changed=True)
                out.gaps.append(gap)
                device_gaps = gaps.setdefault(obs.device_id, [])
                device_gaps.append(gap)
                _expire_beyond(device_gaps, out, cap=max_open_gaps)
            _advance(state, seq, obs.time)
            changed.add(obs.device_id)
            continue
        device_gaps = gaps.get(obs.device_id, [])
        late = next((g for g in device_gaps if g.contains(seq)), None)
        if late is not None:
            late.filled += 1
            if late.filled == late.size:
                late.closed_reason = "filled"
                device_gaps.remove(late)
            _mark(late, out)
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


def _expire_beyond(device_gaps: list[Gap], out: Outcome, *, cap: int) -> None:
    """Close the oldest open gaps until at most `cap` remain."""
    while len(device_gaps) > cap:
        oldest = device_gaps.pop(0)
        oldest.closed_reason = "expired"
        _mark(oldest, out)


def _mark(gap: Gap, out: Outcome) -> None:
    """Report a gap in the outcome once, however often the batch changes it."""
    if not gap.changed:
        gap.changed = True
        out.gaps.append(gap)


def _advance(state: SeqState, seq: int, time: datetime | None) -> None:
    state.last = seq
    if state.first is None:
        state.first = seq
    if time is not None and (state.last_time is None or time > state.last_time):
        state.last_time = time
