"""Sequence tracking: gaps, late fills, repeats, redeliveries and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartpark.ingestion.sequence import Event, Gap, Observation, SeqState, track

T = datetime(2026, 11, 29, tzinfo=UTC)


def obs(
    *seqs: int, dup: bool = False, device: int = 1, minute: int | None = None
) -> list[Observation]:
    return [
        Observation(device, s, dup, T + timedelta(minutes=s if minute is None else minute))
        for s in seqs
    ]


def state(last: int, first: int = 1) -> SeqState:
    return SeqState(last, T + timedelta(minutes=last), first)


def test_continuous_sequence_has_no_events() -> None:
    out = track({1: state(9)}, {}, obs(10, 11, 12))
    assert out.states[1].last == 12
    assert out.states[1].last_time == T + timedelta(minutes=12)
    assert out.gaps == [] and out.events == []


def test_first_message_sets_the_sequence() -> None:
    out = track({}, {}, obs(500))
    assert (out.states[1].last, out.states[1].first) == (500, 500)
    assert out.gaps == [] and out.events == []


def test_gap_then_late_fill_in_the_same_batch() -> None:
    out = track({1: state(10)}, {}, obs(14, 12))
    assert out.states[1].last == 14
    assert [(g.seq_from, g.seq_to, g.size, g.filled) for g in out.gaps] == [(11, 13, 3, 1)]
    assert out.events == []


def test_late_fill_of_a_stored_gap_and_a_true_repeat() -> None:
    stored = Gap(1, 11, 13, filled=0, id=99)
    out = track({1: state(20)}, {1: [stored]}, obs(11, 18))
    assert out.gaps == [stored] and stored.filled == 1
    assert out.events == [Event(1, "seq_repeat", 18, 18)]
    assert out.states == {}


def test_redelivery_below_last_is_not_an_event() -> None:
    out = track({1: state(20)}, {}, obs(19, 20, dup=True))
    assert out.events == [] and out.gaps == [] and out.states == {}


def test_numbers_from_before_the_first_seen_are_not_events() -> None:
    # Two ingestors: seq 5 was committed first, seq 1..4 arrive afterwards.
    out = track({1: state(5, first=5)}, {}, obs(1, 2, 3, 4))
    assert out.events == [] and out.gaps == []


def test_device_restart_when_time_moves_on() -> None:
    out = track({1: state(5000)}, {}, obs(0, 1, 2, minute=6000))
    assert out.events == [Event(1, "seq_reset", 5000, 0)]
    assert out.states[1].last == 2


def test_same_number_same_time_is_a_repeat() -> None:
    out = track({1: state(7)}, {}, obs(7))
    assert out.events == [Event(1, "seq_repeat", 7, 7)]


def test_devices_are_independent() -> None:
    out = track({1: state(1), 2: state(1)}, {}, obs(3, device=1) + obs(2, device=2))
    assert {d: s.last for d, s in out.states.items()} == {1: 3, 2: 2}
    assert [(g.device_id, g.seq_from, g.seq_to) for g in out.gaps] == [(1, 2, 2)]
