"""Sequence tracking: gaps, late fills, repeats, redeliveries and restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from smartpark.ingestion.sequence import Event, Gap, Observation, SeqState, track

T = datetime(2026, 11, 29, tzinfo=UTC)
CAP = 100  # MAX_OPEN_GAPS_PER_DEVICE's default: far above what these tests open


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
    out = track({1: state(9)}, {}, obs(10, 11, 12), max_open_gaps=CAP)
    assert out.states[1].last == 12
    assert out.states[1].last_time == T + timedelta(minutes=12)
    assert out.gaps == [] and out.events == []


def test_first_message_sets_the_sequence() -> None:
    out = track({}, {}, obs(500), max_open_gaps=CAP)
    assert (out.states[1].last, out.states[1].first) == (500, 500)
    assert out.gaps == [] and out.events == []


def test_gap_then_late_fill_in_the_same_batch() -> None:
    out = track({1: state(10)}, {}, obs(14, 12), max_open_gaps=CAP)
    assert out.states[1].last == 14
    assert [(g.seq_from, g.seq_to, g.size, g.filled) for g in out.gaps] == [(11, 13, 3, 1)]
    assert out.events == []


def test_late_fill_of_a_stored_gap_and_a_true_repeat() -> None:
    stored = Gap(1, 11, 13, filled=0, id=99)
    out = track({1: state(20)}, {1: [stored]}, obs(11, 18), max_open_gaps=CAP)
    assert out.gaps == [stored] and stored.filled == 1
    assert out.events == [Event(1, "seq_repeat", 18, 18)]
    assert out.states == {}


def test_redelivery_below_last_is_not_an_event() -> None:
    out = track({1: state(20)}, {}, obs(19, 20, dup=True), max_open_gaps=CAP)
    assert out.events == [] and out.gaps == [] and out.states == {}


def test_numbers_from_before_the_first_seen_are_not_events() -> None:
    # Two ingestors: seq 5 was committed first, seq 1..4 arrive afterwards.
    out = track({1: state(5, first=5)}, {}, obs(1, 2, 3, 4), max_open_gaps=CAP)
    assert out.events == [] and out.gaps == []


def test_device_restart_when_time_moves_on() -> None:
    out = track({1: state(5000)}, {}, obs(0, 1, 2, minute=6000), max_open_gaps=CAP)
    assert out.events == [Event(1, "seq_reset", 5000, 0)]
    assert out.states[1].last == 2


def test_same_number_same_time_is_a_repeat() -> None:
    out = track({1: state(7)}, {}, obs(7), max_open_gaps=CAP)
    assert out.events == [Event(1, "seq_repeat", 7, 7)]


def test_devices_are_independent() -> None:
    out = track(
        {1: state(1), 2: state(1)}, {}, obs(3, device=1) + obs(2, device=2), max_open_gaps=CAP
    )
    assert {d: s.last for d, s in out.states.items()} == {1: 3, 2: 2}
    assert [(g.device_id, g.seq_from, g.seq_to) for g in out.gaps] == [(1, 2, 2)]


# --- the cap on open gaps (MAX_OPEN_GAPS_PER_DEVICE) -------------------------------------


def closed(gaps: list[Gap]) -> list[tuple[int, int, str | None]]:
    return [(g.seq_from, g.seq_to, g.closed_reason) for g in gaps]


def test_a_gap_beyond_the_cap_expires_the_oldest() -> None:
    # 0, 2, 4, …, 10: five one-number gaps; with a cap of 3 the two oldest expire.
    out = track({1: state(0, first=0)}, {}, obs(2, 4, 6, 8, 10), max_open_gaps=3)
    assert closed(out.gaps) == [
        (1, 1, "expired"),
        (3, 3, "expired"),
        (5, 5, None),
        (7, 7, None),
        (9, 9, None),
    ]
    assert out.events == []


def test_stored_gaps_expire_oldest_first_and_a_full_fill_closes_a_gap() -> None:
    oldest, newer = Gap(1, 1, 1, id=10), Gap(1, 3, 4, id=11)
    # 7 opens [6, 6] and pushes out the oldest; 3 and 4 fill the other one completely.
    out = track({1: state(5)}, {1: [oldest, newer]}, obs(7, 3, 4), max_open_gaps=2)
    assert closed(out.gaps) == [(6, 6, None), (1, 1, "expired"), (3, 4, "filled")]
    assert (newer.filled, oldest.filled) == (2, 0)


def test_a_late_number_of_an_expired_gap_is_a_repeat() -> None:
    # 4 opens [3, 3] and pushes [1, 1] out; late 1 is then outside every open gap, below the
    # last number with an older data time: a repeat. Late 3 still fills its gap.
    out = track({1: state(0, first=0)}, {}, obs(2, 4, 1, 3), max_open_gaps=1)
    assert closed(out.gaps) == [(1, 1, "expired"), (3, 3, "filled")]
    assert [g.filled for g in out.gaps] == [0, 1]
    assert out.events == [Event(1, "seq_repeat", 1, 1)]


def test_more_open_gaps_than_the_cap_are_trimmed_on_input() -> None:
    stored = [Gap(1, s, s, id=s) for s in (1, 3, 5, 7)]
    out = track({1: state(8)}, {1: stored}, [], max_open_gaps=2)
    assert closed(out.gaps) == [(1, 1, "expired"), (3, 3, "expired")]
    assert [g.closed_reason for g in stored] == ["expired", "expired", None, None]


def test_a_filled_gap_frees_its_place_under_the_cap() -> None:
    out = track({1: state(0, first=0)}, {}, obs(2, 1, 4), max_open_gaps=1)
    # [1, 1] is filled (and closed) before [3, 3] opens: nothing expires.
    assert closed(out.gaps) == [(1, 1, "filled"), (3, 3, None)]


def test_the_cap_gives_the_same_gaps_however_the_batches_are_cut() -> None:
    seqs = [*range(0, 21, 2), 17, 3]  # 0, 2, …, 20, then late 17 (still open) and 3 (expired)

    def run(batches: list[list[int]]) -> tuple[list[tuple[int, int, str | None]], int]:
        states: dict[int, SeqState] = {}
        open_gaps: list[Gap] = []
        every: dict[int, Gap] = {}
        repeats = 0
        for batch in batches:
            out = track(states, {1: open_gaps}, obs(*batch), max_open_gaps=3)
            states.update(out.states)
            for gap in out.gaps:
                every[gap.seq_from] = gap
            open_gaps = [g for g in every.values() if g.closed_reason is None]
            open_gaps.sort(key=lambda g: g.seq_from)
            repeats += len(out.events)
        return closed(sorted(every.values(), key=lambda g: g.seq_from)), repeats

    whole = run([seqs])
    assert whole == run([[s] for s in seqs]) == run([seqs[:3], seqs[3:8], seqs[8:]])
    gaps, repeats = whole
    assert [g for g in gaps if g[2] is None] == [(15, 15, None), (19, 19, None)]
    assert gaps.count((17, 17, "filled")) == 1
    assert len([g for g in gaps if g[2] == "expired"]) == 7 and repeats == 1
