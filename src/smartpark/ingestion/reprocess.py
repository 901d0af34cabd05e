"""Reprocess dead letters after a registry or catalogue fix: the same contract, once more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.dead_letters import DeadLetterPolicy, dead_letter
from smartpark.ingestion.types import ParseContext
from smartpark.storage.readings import Batch, store_batch


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """What reprocessing one message did."""

    dead_letters_closed: int
    inserted: int
    duplicates: int
    still_failing: list[str]


def reprocess(
    conn: psycopg.Connection[Any],
    dead_letter_id: int,
    ctx: ParseContext,
    now: datetime,
    *,
    park: str,
    policy: DeadLetterPolicy,
) -> Reprocessed | None:
    """Parse one of a park's dead letters again; store what is now valid, dead-letter anew what
    still is not, and mark this one reprocessed — in one transaction. A payload that was cut
    when it was stored cannot be parsed again: it stays as it is, and the reason says why.
    Device sequence state is left alone: this is an old message, not a new one."""
    # Claimed by the update itself: of two requests at once, only one reprocesses the message.
    row = conn.execute(
        "UPDATE dead_letter SET reprocessed_at = %s "
        "WHERE id = %s AND park_id = %s AND reprocessed_at IS NULL "
        "RETURNING received_at, topic, payload, payload_size",
        (now, dead_letter_id, park),
    ).fetchone()
    if row is None:
        conn.rollback()
        return None
    received_at, topic, payload, size = row
    payload = bytes(payload)
    if len(payload) < size:
        conn.rollback()
        reason = f"only {len(payload)} of the message's {size} bytes were kept; it cannot be parsed"
        return Reprocessed(0, 0, 0, [reason])
    parsed = parse_message(topic, payload, ctx, received_at)
    letters = (
        [dead_letter(parsed, topic, payload, received_at=now, policy=policy)]
        if parsed.rejections
        else []
    )
    result = store_batch(conn, Batch(readings=parsed.readings, dead_letters=letters), now)
    failing = [r.reason for r in parsed.rejections[: policy.max_reasons]]
    return Reprocessed(1, result.inserted, result.duplicates, failing)
