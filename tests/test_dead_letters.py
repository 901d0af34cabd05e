"""Dead letters as pure functions: one bounded row per message, and the per-minute budget."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import orjson

from smartpark.ingestion.dead_letters import DeadLetterBudget, DeadLetterPolicy, dead_letter
from smartpark.ingestion.types import DeviceRef, Parsed, Rejection

AT = datetime(2026, 12, 8, 1, 0, 10, tzinfo=UTC)
DEVICE = DeviceRef(7, "pa", "e1", "meter-01", frozenset({1}))
POLICY = DeadLetterPolicy(payload_bytes=256, max_reasons=3, budget_per_minute=2)


def test_one_row_holds_every_rejection_and_the_payload_once() -> None:
    payload = b"x" * 1000
    parsed = Parsed(DEVICE, "pa", total=10, rejections=[Rejection(f"bad {i}", i) for i in range(5)])
    row = dead_letter(
        parsed, "smartpark/pa/e1/meter-01/telemetry", payload, received_at=AT, policy=POLICY
    )
    assert (row.park_id, row.device_id, row.readings, row.rejected) == ("pa", 7, 10, 5)
    assert row.reason == "5 of 10 readings rejected; first, reading 0: bad 0"
    assert orjson.loads(row.rejections) == [
        {"index": 0, "reason": "bad 0"},
        {"index": 1, "reason": "bad 1"},
        {"index": 2, "reason": "bad 2"},
    ]
    assert (row.payload, row.payload_size) == (b"x" * 256, 1000)
    assert row.payload_sha256 == hashlib.sha256(payload).hexdigest()


def test_a_topic_is_cut_and_cannot_carry_nul() -> None:
    parsed = Parsed(rejections=[Rejection("unknown device")])
    row = dead_letter(parsed, "smartpark/\x00" + "a" * 1000, b"", received_at=AT, policy=POLICY)
    assert row.topic.startswith("smartpark/\\x00aaa") and len(row.topic) == 323
    assert (row.park_id, row.device_id, row.reason) == (None, None, "unknown device")


def test_the_budget_is_per_device_per_registered_park_and_shared_by_invented_parks() -> None:
    budget = DeadLetterBudget(2)
    device = Parsed(DEVICE, "pa", rejections=[Rejection("x")])
    unknown_in_pa = Parsed(park="pa", rejections=[Rejection("x")])
    invented = Parsed(rejections=[Rejection("x")])  # parks nobody registered: park None
    assert [budget.allow(device, at=AT) for _ in range(3)] == [True, True, False]
    assert [budget.allow(unknown_in_pa, at=AT) for _ in range(3)] == [True, True, False]
    assert [budget.allow(invented, at=AT) for _ in range(3)] == [True, True, False]
    # The next minute starts every budget afresh.
    assert budget.allow(device, at=AT + timedelta(seconds=50)) is True
    assert budget.allow(device, at=AT + timedelta(seconds=51)) is True
    assert budget.allow(device, at=AT + timedelta(seconds=52)) is False
