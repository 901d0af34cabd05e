"""Reference consumers run as separate processes: a bare counting one (the broker ceiling)
and a naive one that inserts and commits each message (the baseline)."""

from __future__ import annotations

import json
import sys
import threading
import time

import orjson
import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion


def run(kind: str, port: int, seconds: float, db_url: str | None) -> dict[str, float]:
    """Consume `smartpark/#` at QoS 1 for `seconds` after the first message."""
    count = 0
    first: float | None = None
    conn = psycopg.connect(db_url, autocommit=True) if kind == "naive" and db_url else None
    done = threading.Event()

    def on_message(_c: object, _u: object, m: paho.MQTTMessage) -> None:
        nonlocal count, first
        if first is None:
            first = time.monotonic()
        if conn is not None:
            doc = orjson.loads(m.payload)
            with conn.transaction(), conn.cursor() as cur:  # one transaction per message
                cur.executemany(
                    "INSERT INTO naive_reading (topic, metric, time, value) VALUES (%s, %s, %s, %s)",
                    [(m.topic, r["metric"], doc["ts"], r["value"]) for r in doc["readings"]],
                )
        count += 1
        if time.monotonic() - first >= seconds:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-{kind}", protocol=paho.MQTTv5
    )
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe("smartpark/#", qos=1)
    client.loop_start()
    print("ready", flush=True)
    done.wait(seconds * 4 + 30)
    client.loop_stop()
    elapsed = time.monotonic() - (first or time.monotonic())
    return {"messages": count, "seconds": elapsed, "rate": count / elapsed if elapsed else 0.0}


if __name__ == "__main__":
    kind, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(
        json.dumps(run(kind, port, seconds, sys.argv[4] if len(sys.argv) > 4 else None)), flush=True
    )
