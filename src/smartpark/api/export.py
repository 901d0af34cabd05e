"""CSV export of raw readings on a connection of its own, capped in rows and in query time."""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Generator
from contextlib import closing
from datetime import timedelta

from psycopg.errors import QueryCanceled
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from smartpark.storage import series
from smartpark.storage.series import SeriesQuery

log = logging.getLogger(__name__)

COLUMNS = ["time", "device", "metric", "value", "unit", "flag"]
# Rows per chunk sent: enough to amortise a write, few enough to stream steadily.
CHUNK_ROWS = 1000
# The last line of an export that is not whole says why (docs/api.md, "Limits").
TRUNCATED = "# truncated after {rows} rows (SMARTPARK_EXPORT_MAX_ROWS); the next row is at {next}"
INCOMPLETE = (
    "# incomplete after {rows} rows: the query ran longer than {seconds:g} s"
    " (SMARTPARK_EXPORT_STATEMENT_TIMEOUT)"
)


def csv_chunks(
    engine: Engine, q: SeriesQuery, *, max_rows: int, statement_timeout: timedelta
) -> Generator[bytes, None, None]:
    """The readings as CSV chunks from a server-side cursor on a connection of `engine` that is
    opened by the first chunk and closed with the generator; at most `max_rows` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    rows = 0
    with engine.connect() as conn:
        try:
            # One row past the cap tells a cut export from one that is exactly the cap.
            with closing(series.stream_raw(conn, q, limit=max_rows + 1)) as found:
                for row in found:
                    if rows == max_rows:
                        end = TRUNCATED.format(rows=rows, next=row[0].isoformat())
                        buffer.write(end + str(writer.dialect.lineterminator))
                        break
                    writer.writerow([row[0].isoformat(), *row[1:]])
                    rows += 1
                    if rows % CHUNK_ROWS == 0:
                        yield _take(buffer)
        except OperationalError as exc:
            if not isinstance(exc.orig, QueryCanceled):
                raise
            log.warning("CSV export of park %s cut after %s rows: %s", q.park, rows, exc.orig)
            seconds = statement_timeout.total_seconds()
            end = INCOMPLETE.format(rows=rows, seconds=seconds)
            buffer.write(end + str(writer.dialect.lineterminator))
    yield _take(buffer)


def _take(buffer: io.StringIO) -> bytes:
    chunk = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return chunk
