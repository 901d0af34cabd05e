"""Dead letters bounded by construction: one row per message, a cut payload, a budget."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from smartpark.ingestion.types import Parsed
from smartpark.storage.readings import DeadLetterRow

# A contract topic is five levels of ids of at most 64 characters: 320 keeps any real one
# whole, and cuts what only a hostile client sends.
TOPIC_CHARS = 320
# Every reason the parser writes quotes device input in at most 40 characters; this bounds
# what an unforeseen one could add.
REASON_CHARS = 300
# Budget keys live for one minute; past this many in a minute, new keys share one budget, so
# a flood of invented topics cannot grow the table either.
MAX_BUDGET_KEYS = 10_000


@dataclass(frozen=True, slots=True)
class DeadLetterPolicy:
    """How much of a rejected message is kept (settings DEAD_LETTER_*)."""

    payload_bytes: int
    max_reasons: int
    budget_per_minute: int


def dead_letter(
    parsed: Parsed, topic: str, payload: bytes, *, received_at: datetime, policy: DeadLetterPolicy
) -> DeadLetterRow:
    """The one row that records every rejection of a message, with the payload kept once."""
    rejections = parsed.rejections
    first = rejections[0]
    if first.reading_index is None:
        reason = first.reason
    elif len(rejections) == 1:
        reason = f"reading {first.reading_index}: {first.reason}"
    else:
        reason = (
            f"{len(rejections)} of {parsed.total} readings rejected; "
            f"first, reading {first.reading_index}: {first.reason}"
        )
    kept = [
        {"index": r.reading_index, "reason": r.reason[:REASON_CHARS]}
        for r in rejections[: policy.max_reasons]
    ]
    return DeadLetterRow(
        received_at=received_at,
        # PostgreSQL text cannot hold NUL, which the embedded broker lets into a topic.
        topic=topic[:TOPIC_CHARS].replace("\x00", "\\x00"),
        park_id=parsed.park,
        device_id=parsed.device.id if parsed.device is not None else None,
        reason=reason[:REASON_CHARS],
        payload=payload[: policy.payload_bytes],
        payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
        rejections=orjson.dumps(kept).decode(),
        rejected=len(rejections),
        readings=parsed.total,
    )


@dataclass(slots=True)
class DeadLetterBudget:
    """Dead letters allowed per device (unknown devices: per park) and minute, in this process."""

    per_minute: int
    _minute: datetime | None = None
    _spent: dict[tuple[str, object], int] = field(default_factory=dict)

    def allow(self, parsed: Parsed, *, at: datetime) -> bool:
        """Spend one dead letter of the sender's budget; False when it is spent."""
        minute = at.replace(second=0, microsecond=0)
        if minute != self._minute:
            self._minute = minute
            self._spent.clear()
        # Unknown devices spend their registered park's budget; a park nobody registered is
        # the sender's invention, so all of those share one budget.
        key: tuple[str, object] = (
            ("device", parsed.device.id) if parsed.device is not None else ("park", parsed.park)
        )
        if key not in self._spent and len(self._spent) >= MAX_BUDGET_KEYS:
            key = ("overflow", None)
        spent = self._spent.get(key, 0)
        if spent >= self.per_minute:
            return False
        self._spent[key] = spent + 1
        return True
