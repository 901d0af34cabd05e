"""Reprocess dead letters after a registry or catalogue fix: the same contract, once more."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.types import ParseContext
from smartpark.storage.readings import Batch, DeadLetterRow, store_batch


@dataclass(frozen=True, slots=True)
class Reprocessed:
    """What reprocessing one message did."""

    dead_letters_closed: int
    inserted: int
    duplicates: int
    still_failing: list[str]


def reprocess(
    conn: psycopg.Connection[Any], dead_letter_id: int, ctx: ParseContext, now: datetime
) -> Reprocessed | None:
    """Parse the dead letter's message again; store what is now valid, dead-letter anew what
    still is not, and mark every dead letter of that message reprocessed — in one transaction.
    Device sequence state is left alone: this is an old message, not a new one."""
    row = conn.execute(
        "SELECT received_at, topic, payload FROM dead_letter "
        "WHERE id = %s AND reprocessed_at IS NULL",
        (dead_letter_id,),
    ).fetchone()
    if row is None:
        return None
    received_at, topic, payload = row
    closed = conn.execute(
        "UPDATE dead_letter SET reprocessed_at = %s WHERE received_at = %s AND topic = %s "
        "AND payload = %s AND reprocessed_at IS NULL",
        (now, received_at, topic, payload),
    ).rowcount
    parsed = parse_message(topic, bytes(payload), ctx, received_at)
    letters = [
        DeadLetterRow(now, topic, r.reason, bytes(payload), r.reading_index)
        for r in parsed.rejections
    ]
    result = store_batch(conn, Batch(readings=parsed.readings, dead_letters=letters), now)
    return Reprocessed(
        closed, result.inserted, result.duplicates, [r.reason for r in parsed.rejections]
    )
