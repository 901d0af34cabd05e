"""Per-user caps on long-lived responses (live streams, CSV exports), held until they end."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, Generator, Mapping

from anyio import CancelScope, to_thread
from fastapi import HTTPException
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

# A slot is free the moment its response ends, so a refused client may soon try again.
RETRY_AFTER_SECONDS = 3

Body = Generator[bytes, None, None] | AsyncGenerator[bytes, None]


class UserLimiter:
    """At most `per_user` responses of one kind open per user in this process (thread-safe)."""

    def __init__(self, per_user: int, kind: str) -> None:
        self.per_user = per_user
        self.kind = kind
        self._open: dict[int, int] = {}
        self._lock = threading.Lock()

    def acquire(self, user: int) -> Slot:
        """A slot for `user`, or 429 with Retry-After when they hold `per_user` already."""
        with self._lock:
            held = self._open.get(user, 0)
            if held >= self.per_user:
                raise HTTPException(
                    429,
                    f"you already have the most {self.kind} one user may open ({held}, "
                    "SMARTPARK_API_MAX_STREAMS_PER_USER): close one and try again",
                    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
                )
            self._open[user] = held + 1
        return Slot(self, user)

    def held(self, user: int) -> int:
        """How many slots `user` holds now."""
        with self._lock:
            return self._open.get(user, 0)

    def _free(self, slot: Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
            remaining = self._open[slot.user] - 1
            if remaining:
                self._open[slot.user] = remaining
            else:
                del self._open[slot.user]


class Slot:
    """One open response of a user; releasing it twice frees it once."""

    def __init__(self, limiter: UserLimiter, user: int) -> None:
        self.user = user
        self.released = False
        self._limiter = limiter

    def release(self) -> None:
        """Give the slot back."""
        self._limiter._free(self)


class HeldStream(StreamingResponse):
    """A streamed response that closes its body and frees its slot however it ends: finished,
    failed, or the client gone (an abrupt disconnect included)."""

    def __init__(
        self, body: Body, slot: Slot, *, media_type: str, headers: Mapping[str, str]
    ) -> None:
        super().__init__(body, media_type=media_type, headers=headers)
        self._body = body
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            try:
                # Shielded: a cancelled response still closes its body (an export's connection
                # is closed by it), and only then frees the slot.
                with CancelScope(shield=True):
                    await _close(self._body)
            finally:
                self._slot.release()


async def _close(body: Body) -> None:
    if isinstance(body, Generator):
        # A sync body is iterated on worker threads, and closing may talk to the database.
        await to_thread.run_sync(body.close)
    else:
        await body.aclose()
