"""Device input quoted in reasons: always short, whatever a device sent."""

from __future__ import annotations

from typing import Any

# A quoted value in a reason stays this short, so no input can make a dead letter large.
QUOTE_CHARS = 40


def quote(text: str) -> str:
    """`text` for a reason: repr'd, then cut (an escape is up to 10 characters of repr)."""
    shown = repr(text[: QUOTE_CHARS + 1])
    if len(text) <= QUOTE_CHARS and len(shown) <= QUOTE_CHARS + 2:
        return shown
    return f"{shown[:QUOTE_CHARS]}… ({len(text)} characters)"


def show(value: Any) -> str:
    """Any JSON value for a reason, bounded in length: strings quoted, others as repr."""
    if isinstance(value, str):
        return quote(value)
    text = repr(value)
    if len(text) <= QUOTE_CHARS:
        return text
    return f"{text[:QUOTE_CHARS]}… ({type(value).__name__}, {len(text)} characters)"
