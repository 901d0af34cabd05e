"""Delivers the outbox: MQTT at QoS 1 and HTTP webhooks signed with HMAC-SHA256, retried."""

from __future__ import annotations

import hashlib
import hmac
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from smartpark.config import MqttEndpoint
from smartpark.storage import alerts as repo

log = logging.getLogger(__name__)

Sender = Callable[[str, bytes, int], None]  # target, body, delivery id; raises on failure


def signature(secret: str, body: bytes) -> str:
    """The X-Smartpark-Signature header value: sha256=<hex HMAC of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_sender(secret: str | None, timeout: float = 10.0) -> Sender:
    """POST the JSON body; any non-2xx answer or network error is a failure to retry."""

    def send(url: str, body: bytes, delivery: int) -> None:
        headers = {"Content-Type": "application/json", "X-Smartpark-Delivery": str(delivery)}
        if secret:
            headers["X-Smartpark-Signature"] = signature(secret, body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - URLs come from the operator's configuration
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"webhook answered {response.status}")

    return send


class MqttSender:
    """Publishes notifications at QoS 1 on its own connection."""

    def __init__(self, endpoint: MqttEndpoint, client_id: str, protocol: str = "5"):
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=paho.MQTTv5 if protocol == "5" else paho.MQTTv311,
        )  # fmt: skip
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        self._client.connect_async(endpoint.host, endpoint.port)
        self._client.loop_start()

    def __call__(self, topic: str, body: bytes, delivery: int) -> None:
        info = self._client.publish(topic, body, qos=1)
        info.wait_for_publish(10)
        if not info.is_published():
            raise OSError(f"broker did not acknowledge the notification on {topic}")

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at an hour."""
    return timedelta(seconds=min(5 * 2**attempts, 3600))


def dispatch(engine: Engine, senders: dict[str, Sender], now: datetime, limit: int = 100) -> int:
    """Deliver due notifications; each is marked sent in the transaction that locked it, so a
    crash before the commit means it is sent again — receivers deduplicate on the delivery id."""
    delivered = 0
    with engine.begin() as conn:
        for row in repo.due(conn, now, limit):
            payload: dict[str, Any] = {**row["payload"], "delivery_id": row["id"]}
            body = orjson.dumps(payload)
            sender = senders.get(row["channel"])
            try:
                if sender is None:
                    raise OSError(f"no sender configured for channel {row['channel']}")
                sender(row["target"], body, row["id"])
            except (OSError, urllib.error.URLError, RuntimeError, ValueError) as exc:
                retry = now + backoff(row["attempts"])
                log.warning(
                    "notification %s to %s failed (%s); retry at %s",
                    row["id"],
                    row["target"],
                    exc,
                    retry,
                )
                repo.mark_failed(conn, row["id"], str(exc), retry)
                continue
            repo.mark_sent(conn, row["id"], now)
            delivered += 1
    return delivered
