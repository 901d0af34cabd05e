"""The load generator's lean publisher against a real Mosquitto, and a broker that hangs up."""

from __future__ import annotations

import socket
import threading

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartpark_sim.wire import PublishError, WirePublisher, _count_pubacks, encode
from tests.services import Mosquitto, wait_until


def test_every_message_arrives_once_in_order(mosquitto: Mosquitto) -> None:
    received: list[tuple[str, bytes, int]] = []
    lock = threading.Lock()

    def on_message(_c: object, _u: object, m: paho.MQTTMessage) -> None:
        with lock:
            received.append((m.topic, bytes(m.payload), m.qos))

    subscriber = paho.Client(CallbackAPIVersion.VERSION2, client_id="wire-test-sub")
    subscriber.on_message = on_message
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.subscribe("wire/#", qos=1)
    subscriber.loop_start()
    try:
        wait_until(subscriber.is_connected, 10)
        # A window far smaller than the run: packet ids wrap and slots are reused many times.
        publisher = WirePublisher("127.0.0.1", mosquitto.port, "wire-test-pub", window=16)
        # 70,000 > 65,535: the packet identifier wraps around.
        sent = [(f"wire/d{i % 7}", b"x" * (i % 300) + str(i).encode()) for i in range(70_000)]
        packets = [encode(t, p) for t, p in sent]
        for first in range(0, len(packets), 64):
            publisher.publish(packets[first : first + 64])
        publisher.close()
        assert (publisher.sent, publisher.acked) == (70_000, 70_000)
        wait_until(lambda: len(received) >= 70_000, 60)
    finally:
        subscriber.loop_stop()
        subscriber.disconnect()
    assert received == [(t, p, 1) for t, p in sent]


def test_pubacks_are_counted_across_reads() -> None:
    puback = b"\x40\x02\x00\x01"
    stream = puback * 3 + b"\xd0\x00" + puback  # a PINGRESP among them is not an ack
    acks, rest = _count_pubacks(stream[:7])
    assert (acks, rest) == (1, stream[4:7])
    acks, rest = _count_pubacks(rest + stream[7:])
    assert (acks, rest) == (3, b"")


def test_a_broker_that_hangs_up_fails_the_run_naming_what_was_unacknowledged() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def broker() -> None:
        conn, _ = server.accept()
        conn.recv(1024)  # CONNECT
        conn.sendall(b"\x20\x02\x00\x00")  # CONNACK, accepted
        conn.recv(65536)  # the publishes
        conn.close()  # no PUBACK

    thread = threading.Thread(target=broker)
    thread.start()
    publisher = WirePublisher("127.0.0.1", port, "wire-test-hangup")
    publisher.publish([encode("wire/t", b"1"), encode("wire/t", b"2")])
    thread.join(10)
    with pytest.raises(PublishError, match="closed the connection with 2 messages unacknowledged"):
        publisher.close(timeout=10)
    server.close()


def test_a_refused_connection_is_named() -> None:
    server = socket.create_server(("127.0.0.1", 0))

    def broker() -> None:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.sendall(b"\x20\x02\x00\x05")  # not authorised
        conn.close()

    thread = threading.Thread(target=broker)
    thread.start()
    with pytest.raises(PublishError, match="refused the connection: 20020005"):
        WirePublisher("127.0.0.1", server.getsockname()[1], "wire-test-refused")
    thread.join(10)
    server.close()
