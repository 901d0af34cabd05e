"""Property-based tests of the device contract: whatever a device sends, parse_message returns
readings that are sound or rejections that say why, and never raises or logs an error."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import example, find, given, settings
from hypothesis import strategies as st

from smartpark.config import Settings
from smartpark.ingestion.contract import parse_message
from smartpark.ingestion.service import contract_limits
from smartpark.ingestion.types import (
    DeviceRef,
    MetricRef,
    ParseContext,
    Parsed,
    Registry,
)

# The registry as tests/test_contract.py builds it, with the catalogue's physical bounds.
NOW = datetime(2026, 11, 29, 0, 10, tzinfo=UTC)
METRICS = {
    "water.intake": MetricRef(1, "m3", 0.0, None),
    "water.reused": MetricRef(2, "m3", 0.0, None),
    "emission.so2": MetricRef(3, "mg/m3", 0.0, None),
    "emission.temp": MetricRef(4, "degC", -273.15, None),
    "wastewater.ph": MetricRef(5, "pH", 0.0, 14.0),
    "emission.o2": MetricRef(6, "%", 0.0, 25.0),
    "energy.electricity.import": MetricRef(7, "kWh", 0.0, None),
    "energy.power": MetricRef(8, "kW", None, None),
}
BOUNDS = {ref.id: (ref.minimum, ref.maximum) for ref in METRICS.values()}
DEVICE = DeviceRef(7, "park", "ent", "dev", frozenset(BOUNDS))
SETTINGS = Settings()
LIMITS = contract_limits(SETTINGS)
CTX = ParseContext(Registry({("park", "dev"): DEVICE}, METRICS), LIMITS, "smartpark")
OLDEST = NOW - SETTINGS.reading_age_limit
NEWEST = NOW + SETTINGS.max_clock_skew
TOPIC = "smartpark/park/ent/dev/telemetry"
FLAGS = frozenset("NFMSDCTB")
REASON_CAP = 300  # characters of a rejection's reason

# Reproducible in CI: the same examples every run, nothing written to a local database.
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None)


class _Errors(logging.Handler):
    """Collects error records: the parser logs one when an input reached a bug of ours."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def no_errors_logged() -> Iterator[None]:
    handler = _Errors()
    logger = logging.getLogger("smartpark")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in handler.records] == []


def check(payload: bytes, topic: str = TOPIC) -> Parsed:
    """parse_message's outcome, after asserting every property that holds for any input."""
    with no_errors_logged():
        parsed = parse_message(topic, payload, CTX, NOW)
    assert isinstance(parsed, Parsed)
    assert len(parsed.readings) <= LIMITS.max_readings
    for r in parsed.readings:
        assert type(r.value) is float
        assert math.isfinite(r.value)
        low, high = BOUNDS[r.metric_id]
        assert low is None or r.value >= low, r
        assert high is None or r.value <= high, r
        assert r.time.tzinfo is not None
        assert r.time.utcoffset() == timedelta(0)
        assert OLDEST <= r.time <= NEWEST, r
        assert type(r.flag) is str
        assert r.flag in FLAGS
        assert r.device_id == DEVICE.id
    for rejection in parsed.rejections:
        assert isinstance(rejection.reason, str)
        assert 0 < len(rejection.reason) <= REASON_CAP, rejection.reason[:400]
        index = rejection.reading_index
        assert index is None or (type(index) is int and index >= 0)
    if any(r.reading_index is None for r in parsed.rejections):
        # Rejected as a whole: one reason, nothing stored.
        assert parsed.readings == []
        assert len(parsed.rejections) == 1
    return parsed


def assert_accounted(parsed: Parsed, count: int) -> None:
    """When a message parsed, each of its `count` readings is stored or rejected, once."""
    if any(r.reading_index is None for r in parsed.rejections):
        return
    indexes = [r.reading_index for r in parsed.rejections]
    assert len(set(indexes)) == len(indexes)
    assert all(i is not None and 0 <= i < count for i in indexes)
    assert len(parsed.readings) + len(indexes) == count


# --- strategies ------------------------------------------------------------------------------

topics = st.one_of(
    st.just(TOPIC),
    st.sampled_from(
        [
            "smartpark/park/ent/dev/status",
            "smartpark/park/ent/ghost/telemetry",
            "smartpark/park/other/dev/telemetry",
            "smartpark/park/ent/dev/telemetry/extra",
            "smartpark///dev/telemetry",
            "elsewhere/park/ent/dev/telemetry",
        ]
    ),
    st.text(max_size=80),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
keys = st.one_of(
    st.sampled_from(["ts", "seq", "readings", "metric", "value", "unit", "flag", "bt", "n", "v"]),
    st.text(max_size=6),
)


def _array_text(items: list[str]) -> str:
    return "[" + ",".join(items) + "]"


def _object_text(pairs: list[tuple[str, str]]) -> str:
    # Built from pairs, so a key may well appear twice in one object.
    return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"


json_texts = st.recursive(
    scalars.map(json.dumps),  # NaN and Infinity literals included
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(_array_text),
        st.lists(st.tuples(keys, children), max_size=5).map(_object_text),
    ),
    max_leaves=30,
)

offsets = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
near_now = st.integers(-10 * 365 * 86_400_000, 86_400_000).map(
    lambda ms: NOW + timedelta(milliseconds=ms)
)
timestamps = st.one_of(
    near_now.map(lambda t: int(t.timestamp() * 1000)),  # epoch milliseconds
    near_now.map(lambda t: t.timestamp() * 1000),
    st.tuples(near_now, offsets).map(lambda p: p[0].astimezone(p[1]).isoformat()),
    near_now.map(lambda t: t.isoformat().replace("+00:00", "Z")),
    st.datetimes(timezones=offsets).map(datetime.isoformat),  # years 1 to 9999
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "10000-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-28T23:59:60Z",
            "2026-11-29T00:00:00+25:00",
            "2026-11-29T00:00:00",
            "",
        ]
    ),
    st.text(max_size=40),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    json_values,
)
values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(),  # NaN and infinities too (as literals through json.dumps)
    st.integers(),
    st.sampled_from([1e306, -1e306, 1.7976931348623157e308, 5e-324, -0.0, 10**400]),
    st.text(max_size=5),
    st.booleans(),
    st.none(),
    json_values,
)
units = st.one_of(
    st.none(),
    st.sampled_from(
        [
            *("m3", "L", "kWh", "MWh", "GJ", "%", "percent", "pH", "mg/m3", "g/m3", "mg/Nm3"),
            *("degC", "degF", "K", "°C", "Nm3/h", "m3/h", "t", "kg", "kW", "W", "mg/L"),
        ]
    ),
    st.sampled_from(
        ["kWh)", "m3/0", "'", "m3**m3", "m*" * 100, "", " m3", "M3", "\x00", "kWh" * 20]
    ),
    st.text(max_size=40),
    st.integers(),
    json_values,
)
metrics = st.one_of(
    st.sampled_from([*METRICS, "no.such", "", "water.intake\x00", "x" * 200, "emission.nox"]),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)
flags = st.one_of(
    st.none(),
    st.sampled_from([*FLAGS, "X", "", "NN", "n"]),
    st.text(max_size=3),
    st.integers(),
)
seqs = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=2**63 - 1),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.text(max_size=5),
)
readings = st.fixed_dictionaries(
    {"metric": metrics, "value": values},
    optional={"unit": units, "flag": flags, "ts": timestamps, "junk": json_values},
)
native_docs = st.fixed_dictionaries(
    {"readings": st.lists(st.one_of(readings, json_values), max_size=20)},
    optional={"ts": timestamps, "seq": seqs, "extra": json_values},
)
senml_times = st.one_of(
    near_now.map(lambda t: t.timestamp()),
    st.floats(),
    st.integers(),
    st.text(max_size=5),
    st.none(),
)
senml_records = st.fixed_dictionaries(
    {},
    optional={
        "bn": st.one_of(
            st.sampled_from(["water.", "emission.", "", "x" * 200]), st.text(max_size=8)
        ),
        "bt": senml_times,
        "bu": units,
        "bv": values,
        "n": st.one_of(st.sampled_from(["intake", "reused", "so2", "o2", "water.intake"]), keys),
        "v": values,
        "u": units,
        "t": st.one_of(st.integers(-100, 100), senml_times),
        "vs": st.text(max_size=5),
    },
)
# Packs a water meter could really send, beside the fuzzed ones, so that stored readings are
# among the examples however the random draws fall.
plausible_records = st.fixed_dictionaries(
    {
        "bt": near_now.map(lambda t: t.timestamp()),
        "n": st.sampled_from(["water.intake", "water.reused"]),
        "v": st.floats(0, 1e6),
    },
    optional={"u": st.sampled_from(["m3", "L"])},
)
senml_packs = st.one_of(
    st.lists(st.one_of(senml_records, json_values), max_size=15),
    st.lists(plausible_records, min_size=1, max_size=5),
)


def encode(doc: Any) -> bytes:
    """json.dumps, which writes NaN/Infinity literals and integers of any size, as UTF-8
    (lone surrogates through as invalid UTF-8)."""
    return json.dumps(doc, ensure_ascii=False).encode("utf-8", "surrogatepass")


# --- properties --------------------------------------------------------------------------------


@FUZZ
@given(payload=st.binary(max_size=4096), topic=topics)
@example(payload=b"", topic=TOPIC)
@example(payload=b"\xff\xfe\xfd", topic=TOPIC)
@example(payload=b"[" * 5000 + b"]" * 5000, topic=TOPIC)
def test_arbitrary_bytes(payload: bytes, topic: str) -> None:
    check(payload, topic)


@FUZZ
@given(value=json_values, topic=topics)
@example(value=None, topic=TOPIC)
@example(value=42, topic=TOPIC)
@example(value="readings", topic=TOPIC)
@example(value=True, topic=TOPIC)
def test_arbitrary_json_values(value: Any, topic: str) -> None:
    check(encode(value), topic)


@FUZZ
@given(text=json_texts)
@example(text='{"ts": "2026-11-29T00:00:00Z", "ts": 1, "readings": []}')
@example(text='{"readings": [{"metric": "water.intake", "value": NaN}]}')
def test_arbitrary_json_text_with_repeated_keys(text: str) -> None:
    check(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(doc=native_docs)
def test_near_valid_native_messages(doc: dict[str, Any]) -> None:
    parsed = check(encode(doc))
    assert_accounted(parsed, len(doc["readings"]))
    seq = doc.get("seq")
    if parsed.readings and seq is not None:
        assert type(seq) is int
        assert 0 <= seq <= 2**63 - 1


@FUZZ
@given(pack=senml_packs)
def test_near_valid_senml_packs(pack: list[Any]) -> None:
    parsed = check(encode(pack))
    assert_accounted(parsed, len(pack))


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(levels=st.integers(0, 5000))
@example(levels=13)
@example(levels=14)
def test_nesting_is_bounded(levels: int) -> None:
    # The document is level 1, `readings` 2, the reading 3: `levels` more lists below it.
    depth = 3 + levels
    payload = b'{"ts": "2026-11-29T00:00:00Z", "readings": [{"metric": "water.intake", '
    payload += b'"value": 1, "x": ' + b"[" * levels + b"0" + b"]" * levels + b"}]}"
    parsed = check(payload)
    if depth <= LIMITS.max_depth:
        assert (len(parsed.readings), parsed.rejections) == (1, [])
    else:
        assert parsed.readings == []
        assert [r.reading_index for r in parsed.rejections] == [None]


def _first(strategy: st.SearchStrategy[Any], condition: Callable[[Any], bool]) -> Any:
    return find(
        strategy,
        condition,
        settings=settings(max_examples=2000, deadline=None, derandomize=True, database=None),
    )


def test_the_strategies_reach_stored_readings_and_each_kind_of_rejection() -> None:
    """The properties above are only as good as the messages: these must occur among them."""
    _first(native_docs, lambda doc: bool(check(encode(doc)).readings))
    _first(senml_packs, lambda pack: bool(check(encode(pack)).readings))
    _first(
        native_docs,
        lambda doc: any(r.reading_index is not None for r in check(encode(doc)).rejections),
    )
    _first(
        native_docs,
        lambda doc: any(r.reading_index is None for r in check(encode(doc)).rejections),
    )
