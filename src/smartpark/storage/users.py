"""Users and their credentials (tokens, sessions): only hashes of secrets are stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text


def create_user(conn: Connection, values: dict[str, Any]) -> int:
    """Insert a user; the caller has hashed the password."""
    row = conn.execute(
        text(
            "INSERT INTO app_user (username, password_hash, role, park_id, enterprise) "
            "VALUES (:username, :password_hash, :role, :park, :enterprise) RETURNING id"
        ),
        values,
    )
    return int(row.scalar_one())


def user_by_name(conn: Connection, username: str) -> dict[str, Any] | None:
    """A user by username."""
    row = conn.execute(text("SELECT * FROM app_user WHERE username = :u"), {"u": username}).first()
    return None if row is None else dict(row._mapping)


def add_credential(
    conn: Connection, user_id: int, secret_hash: str, kind: str, name: str | None,
    expires_at: datetime | None,
) -> None:  # fmt: skip
    """Store a token or session by the hash of its secret."""
    conn.execute(
        text(
            "INSERT INTO credential (secret_hash, user_id, kind, name, expires_at) "
            "VALUES (:h, :u, :k, :n, :e)"
        ),
        {"h": secret_hash, "u": user_id, "k": kind, "n": name, "e": expires_at},
    )


def user_by_credential(
    conn: Connection, secret_hash: str, kind: str, now: datetime
) -> dict[str, Any] | None:
    """The user a valid (unexpired) token or session belongs to."""
    row = conn.execute(
        text(
            "SELECT u.* FROM credential c JOIN app_user u ON u.id = c.user_id "
            "WHERE c.secret_hash = :h AND c.kind = :k "
            "AND (c.expires_at IS NULL OR c.expires_at > :now)"
        ),
        {"h": secret_hash, "k": kind, "now": now},
    ).first()
    return None if row is None else dict(row._mapping)


def drop_credential(conn: Connection, secret_hash: str) -> None:
    """Log out / revoke."""
    conn.execute(text("DELETE FROM credential WHERE secret_hash = :h"), {"h": secret_hash})
