"""Device input quoted in reasons: always short, whatever a device sent."""

from __future__ import annotations

from typing import Any

# A quoted value in a reason stays this short, so no input can make a dead letter large.
QUOTE_CHARS = 40


def quote(text: str) -> str:
    """`text` for a reason: repr'd, and cut to a bounded length."""
    if len(text) <= QUOTE_CHARS:
        return repr(text)
    return f"{text[:QUOTE_CHARS]!r}… ({len(text)} characters)"


def show(value: Any) -> str:
    """Any JSON value for a reason, bounded in length (strings quoted, others as Python shows
    them)."""
    if isinstance(value, str):
        return quote(value)
    text = repr(value)
    if len(text) <= QUOTE_CHARS:
        return text
    return f"{text[:QUOTE_CHARS]}… ({type(value).__name__}, {len(text)} characters)"
