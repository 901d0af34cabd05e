"""Bounds on a parsed JSON document's shape: nesting depth and duplicate object keys."""

from __future__ import annotations

import json
from typing import Any

import orjson

from smartpark.errors import RejectedReading
from smartpark.ingestion.quoting import quote

# An escaped colon (\u003a) is a colon in a decoded string but not in the raw bytes; the
# prefix alone is looked for (one scan), and a false alarm costs only the exact parse.
_ESCAPED_COLON = b"\\u003"
_CONTAINERS = (dict, list)


def check_structure(payload: bytes, doc: Any, *, max_depth: int) -> None:
    """Reject documents nested deeper than `max_depth` or with a key twice in one object."""
    # No document has more levels than opening brackets: most messages need no walk at all.
    if payload.count(b"[") + payload.count(b"{") > max_depth and _too_deep(doc, max_depth):
        raise RejectedReading(f"JSON is nested deeper than {max_depth} levels")
    # orjson keeps the last of duplicate keys silently, so which `ts` or `value` a device meant
    # would be a guess. Re-encoding what was kept writes one colon per kept key plus the
    # colons inside strings, as the payload did: fewer colons means that keys were dropped.
    # Only then (or with an escaped colon about) the exact, slower parser runs to name the key.
    if payload.count(b":") != orjson.dumps(doc).count(b":") or _ESCAPED_COLON in payload:
        _name_duplicate(payload)


def _too_deep(doc: Any, max_depth: int) -> bool:
    """Whether containers nest below `max_depth` levels (the document itself is level 1)."""
    level = [doc] if type(doc) in _CONTAINERS else []
    for _ in range(max_depth):
        below: list[Any] = []
        keep = below.append
        for node in level:
            for value in node.values() if type(node) is dict else node:
                if type(value) in _CONTAINERS:
                    keep(value)
        if not below:
            return False
        level = below
    return True


def _name_duplicate(payload: bytes) -> None:
    """Parse again keeping every key; raise naming the first key that appears twice."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise RejectedReading(f"JSON object has the key {quote(key)} twice")
            seen.add(key)
        return dict(items)

    # Depth is already bounded, so the recursive parser cannot exhaust the stack.
    json.loads(payload, object_pairs_hook=pairs)
