"""The MQTT side: a persistent QoS 1 session with manual acks, reconnecting on its own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from smartpark.config import MqttEndpoint
from smartpark.ingestion.writer import Inbound

log = logging.getLogger(__name__)


def subscriptions(prefix: str, shared_group: str | None) -> list[str]:
    """The topic filters the ingestor subscribes to (shared when a group is set)."""
    filters = [f"{prefix}/+/+/+/telemetry", f"{prefix}/+/+/+/status"]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters


class MqttSource:
    """Delivers messages to `deliver` (which may block) and acknowledges them on request."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        topics: list[str],
        deliver: Callable[[Inbound], None],
        *,
        protocol: str = "5",
        receive_maximum: int = 4096,
        session_expiry: int = 7 * 24 * 3600,
        keepalive: int = 30,
    ) -> None:
        self._endpoint = endpoint
        self._topics = topics
        self._deliver = deliver
        self._v5 = protocol == "5"
        self._receive_maximum = receive_maximum
        self._session_expiry = session_expiry
        self._keepalive = keepalive
        self._epoch = 0
        self._accepting = True
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            # A persistent session keeps our subscription and queues messages while we are away.
            clean_session=None if self._v5 else False,
            manual_ack=True,
        )
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe

    def start(self) -> None:
        """Connect in the background; paho's loop thread reconnects after any loss."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            properties.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self._endpoint.host,
            self._endpoint.port,
            keepalive=self._keepalive,
            clean_start=False if self._v5 else paho.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()

    def pause(self) -> None:
        """Stop handing on new messages; unacknowledged ones stay with the broker."""
        self._accepting = False

    def stop(self) -> None:
        """Disconnect (after queued acks are written) and stop the loop thread."""
        self._accepting = False
        self._client.disconnect()
        self._client.loop_stop()

    def ack(self, messages: list[Inbound]) -> None:
        """Acknowledge committed messages, in order, if their connection is still current."""
        epoch = self._epoch
        for message in messages:
            if message.qos > 0 and message.epoch == epoch:
                self._client.ack(message.mid, message.qos)

    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self._endpoint.url(), reason)
            return
        self._epoch += 1
        log.info(
            "connected to %s (session present: %s)", self._endpoint.url(), flags.session_present
        )
        self.connected.set()
        # Subscribe on every connect: a broker that lost our session (or a first start)
        # needs it, and for a kept session it is a no-op. MQTT 5's retain handling 1
        # skips retained status messages when the subscription already existed.
        options: Any = SubscribeOptions(qos=1, retainHandling=1) if self._v5 else 1
        client.subscribe([(topic, options) for topic in self._topics])

    def _on_subscribe(
        self, _c: paho.Client, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        failed = [str(r) for r in reasons if r.is_failure]
        if failed:
            log.error("broker refused subscriptions %s: %s", self._topics, failed)
            return
        self.subscribed.set()

    def _on_disconnect(
        self, _c: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if self._accepting:
            log.warning("disconnected from %s (%s); reconnecting", self._endpoint.url(), reason)

    def _on_message(self, _c: paho.Client, _u: Any, message: paho.MQTTMessage) -> None:
        if not self._accepting:
            return  # shutting down: the broker redelivers it to our next session
        self._deliver(
            Inbound(
                message.topic,
                bytes(message.payload),
                datetime.now(UTC),
                message.mid,
                message.qos,
                bool(message.dup),
                self._epoch,
            )
        )
