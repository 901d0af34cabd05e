"""Counters the ingestor keeps for logs, health checks and metrics."""

from __future__ import annotations

from dataclasses import dataclass

from smartpark.storage.readings import BatchResult


@dataclass(slots=True)
class IngestStats:
    """Monotonic counters since start (written by the writer thread only)."""

    messages: int = 0
    batches: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    dead_letters_dropped: int = 0  # over a sender's per-minute budget: counted, not stored
    unstorable: int = 0  # messages whose dead letter the database refused too (logged)
    sequence_events: int = 0
    retries: int = 0
    queue_depth: int = 0
    max_queue_depth: int = 0
    last_batch_seconds: float = 0.0
    last_batch_size: int = 0

    def record(self, result: BatchResult, messages: int, seconds: float) -> None:
        """Account for a committed batch."""
        self.messages += messages
        self.batches += 1
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        self.dead_letters += result.dead_letters
        self.sequence_events += result.sequence_events
        self.last_batch_seconds = seconds
        self.last_batch_size = messages
