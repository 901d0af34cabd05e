"""Real services for the tests: databases on the local TimescaleDB, private Mosquitto and PostgreSQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from smartpark.catalogue import load_catalogue
from smartpark.db import make_engine
from smartpark.storage.migrate import upgrade
from smartpark.storage.registry import import_registry, sync_metrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_MOSQUITTO = ROOT / "deploy" / "mosquitto"
ADMIN_URL = os.environ.get(
    "SMARTPARK_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
MISSING = "run `make services` (deploy/install-services.sh) first"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> Any:
    """Poll until predicate() is truthy; fail the test with the last value otherwise."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        time.sleep(interval)
        value = predicate()
    return value


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    def open_() -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    wait_until(open_, timeout)


# --- databases on the machine's PostgreSQL (TimescaleDB preloaded) -----------------------


@dataclass
class Database:
    """A fresh, migrated database."""

    url: str
    engine: Engine
    timescale: bool

    def scalar(self, sql: str, *params: Any) -> Any:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(sql, params or None).fetchone()
            return None if row is None else row[0]

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params or None).fetchall()


def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {ADMIN_URL} is not reachable ({exc}); {MISSING}")


@contextmanager
def fresh_database(timescale: bool, registry: Path | None = None) -> Iterator[Database]:
    """Create, migrate and (optionally) populate a database; drop it afterwards."""
    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    try:
        used = upgrade(engine, "on" if timescale else "off")
        assert used is timescale
        with engine.begin() as conn:
            sync_metrics(conn, load_catalogue())
            if registry is not None:
                from smartpark.registry.schema import load_registry_file

                doc = load_registry_file(registry, set(load_catalogue()))
                import_registry(conn, doc, "Asia/Shanghai")
        yield Database(url, engine, timescale)
    finally:
        engine.dispose()
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- a private Mosquitto built from deploy/mosquitto/mosquitto.conf -----------------------

_TEST_OVERRIDDEN = (
    "listener",
    "persistence_location",
    "password_file",
    "acl_file",
    "allow_anonymous",
    "log_dest",
    "per_listener_settings",
)


class Mosquitto:
    """A Mosquitto process on a free port with the deployed settings (persistence, queues)."""

    def __init__(
        self, workdir: Path, *, acl: bool = False, passwords: dict[str, str] | None = None
    ):
        if shutil.which("mosquitto") is None:
            pytest.fail(f"mosquitto is not installed; {MISSING}")
        self.port = free_port()
        self.workdir = workdir
        (workdir / "data").mkdir(parents=True, exist_ok=True)
        lines = [
            line
            for line in (DEPLOY_MOSQUITTO / "mosquitto.conf").read_text().splitlines()
            if line.strip() and not line.startswith("#") and line.split()[0] not in _TEST_OVERRIDDEN
        ]
        lines += [
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            f"persistence_location {workdir / 'data'}/",
            f"log_dest file {workdir / 'mosquitto.log'}",
        ]
        if os.geteuid() == 0:
            lines.append("user root")  # keep access to the test's own files
        if acl:
            passwd = workdir / "passwd"
            passwd.write_text("")
            for user, password in (passwords or {}).items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
            lines += [
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {DEPLOY_MOSQUITTO / 'acl'}",
            ]
        else:
            lines.append("allow_anonymous true")
        self.config = workdir / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)])
        wait_for_port(self.port)

    def stop(self) -> None:
        """Graceful stop: Mosquitto writes its persistence file on SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


# --- a private PostgreSQL with TimescaleDB, which a test may stop and start ---------------


class PrivatePostgres:
    """initdb + pg_ctl on a free port, run as the postgres user when we are root."""

    def __init__(self, workdir: Path):
        bindir = Path(
            subprocess.run(
                ["pg_config", "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        majors = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        if majors:
            bindir = majors[-1].parent
        self.bindir = bindir
        self.port = free_port()
        self.datadir = workdir / "pgdata"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", "postgres", "--"]
            workdir.chmod(0o777)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with (self.datadir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.datadir}'\n"
                "shared_preload_libraries = 'timescaledb'\ntimescaledb.telemetry_level = off\n"
                "fsync = off\n"
            )

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as_user, str(self.bindir / tool), *args], check=True, capture_output=True
        )

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-w", "-l", str(self.datadir / "log"), "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")


def private_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="smartpark-test-"))


# --- MQTT publishing ---------------------------------------------------------------------


class Publisher:
    """A QoS 1 publisher that waits for every PUBACK."""

    def __init__(
        self,
        url: str,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        protocol: paho.MQTTProtocolVersion = paho.MQTTv5,
    ):
        port = int(url.rsplit(":", 1)[1])
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"pub-{uuid.uuid4().hex[:8]}",
            protocol=protocol,
        )
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        if username:
            self.client.username_pw_set(username, password)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(
        self, topic: str, payload: bytes | str, qos: int = 1, wait: bool = True
    ) -> paho.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=qos)
        if wait:
            info.wait_for_publish(10)
        return info

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def env_for(db: Database, broker: Mosquitto, client_id: str, **extra: str) -> dict[str, str]:
    """The environment of a `smartpark ingest` test process (ingest_process)."""
    return {
        "SMARTPARK_DATABASE_URL": db.url,
        "SMARTPARK_MQTT_URL": broker.url,
        "SMARTPARK_MQTT_CLIENT_ID": client_id,
        "SMARTPARK_BATCH_MAX_WAIT": "0.05",
        **extra,
    }


def ingest_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`smartpark ingest` as a separate process (for kill -9 and SIGTERM tests)."""
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "smartpark", "ingest"],
            env=full,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def running_api(engine: Any) -> Iterator[str]:
    """The API and dashboard served by uvicorn on a free port; yields its base URL."""
    import httpx

    from smartpark.api.server import ApiServer
    from smartpark.embedded.broker import free_port

    server = ApiServer(engine, None, "127.0.0.1", free_port())
    server.start()
    try:
        wait_until(lambda: _answers(httpx, server.url + "/healthz"), 10)
        yield server.url
    finally:
        server.stop()


def _answers(httpx: Any, url: str) -> bool:
    try:
        return bool(httpx.get(url, timeout=1).status_code == 200)
    except httpx.TransportError:
        return False
