"""MQTT side of the simulator: one client per device (with its will), QoS 1, buffering."""

from __future__ import annotations

import collections
import logging
import threading
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from smartpark_sim.engine import MISC_CLIENT, Outgoing

log = logging.getLogger(__name__)

# Unacknowledged publishes per client before we wait: a data logger's send window.
WINDOW = 1000


class Fleet:
    """The park's devices on the wire. A publish while disconnected is kept (paho's queue,
    like a data logger's buffer) and sent after reconnecting."""

    def __init__(self, broker_url: str, park: str, protocol: int = paho.MQTTv5):
        parts = urlsplit(broker_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 1883
        self.password = parts.password
        self.park, self.protocol = park, protocol
        self.clients: dict[str, paho.Client] = {}
        self.pending: dict[str, collections.deque[paho.MQTTMessageInfo]] = {}
        self.published = 0
        self.status_topics: dict[str, str] = {}
        self._lock = threading.Lock()

    def connect(self, client_id: str, status_topic: str | None) -> None:
        """Connect a device (its will: retained `offline` on its status topic)."""
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"sim-{self.park}-{client_id}",
            protocol=self.protocol,
        )
        client.max_inflight_messages_set(WINDOW)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(1, 30)
        if client_id != MISC_CLIENT:
            client.username_pw_set(client_id, self.password)
        if status_topic:
            client.will_set(status_topic, b"offline", qos=1, retain=True)
        client.connect_async(self.host, self.port, keepalive=30)
        client.loop_start()
        self.clients[client_id] = client
        if status_topic:
            self.status_topics[client_id] = status_topic
        self.pending[client_id] = collections.deque()

    def wait_connected(self, timeout: float = 30.0) -> None:
        """Block until every client is connected."""
        for client_id, client in self.clients.items():
            deadline = threading.Event()
            waited = 0.0
            while not client.is_connected():
                if waited > timeout:
                    raise TimeoutError(
                        f"device {client_id} could not connect to {self.host}:{self.port}"
                    )
                deadline.wait(0.05)
                waited += 0.05

    def send(self, item: Outgoing) -> None:
        """Publish one item (or change a device's connection)."""
        client = self.clients[item.client]
        if item.kind == "disconnect":
            # Let what was sent be acknowledged first, or paho would send it again after the
            # reconnect and smartpark would rightly count a repeat the manifest does not know.
            while self.pending[item.client]:
                _wait(self.pending[item.client].popleft())
            # Reason 0x04 asks the broker to publish our will, as a lost connection would.
            client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, identifier=4))
            return
        if item.kind == "connect":
            # A deliberate disconnect ends paho's network thread; start a new one.
            client.loop_stop()
            client.reconnect()
            client.loop_start()
            status = self.status_topics.get(item.client)
            if status:  # back online: replace the will's retained "offline"
                self.pending[item.client].append(
                    client.publish(status, b"online", qos=1, retain=True)
                )
            return
        pending = self.pending[item.client]
        while len(pending) >= WINDOW:
            _wait(pending.popleft())
        pending.append(client.publish(item.topic, item.payload, qos=1, retain=item.retain))
        self.published += 1

    def flush(self) -> None:
        """Wait until the broker acknowledged everything."""
        for pending in self.pending.values():
            while pending:
                _wait(pending.popleft())

    def close(self) -> None:
        """Disconnect cleanly (no wills)."""
        for client in self.clients.values():
            client.disconnect()
            client.loop_stop()


def _wait(info: paho.MQTTMessageInfo) -> None:
    """Wait for the broker's PUBACK. A message published while disconnected reports
    MQTT_ERR_NO_CONN but stays queued in paho and goes out after the reconnect, so wait on
    its completion flag rather than `wait_for_publish`, which would raise."""
    condition = info._condition  # paho exposes no public wait that tolerates NO_CONN
    with condition:
        while not info._published:
            condition.wait(1.0)
