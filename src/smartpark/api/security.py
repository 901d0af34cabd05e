"""Passwords (argon2), secrets for tokens and sessions, and who may do what."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

ROLES = ("viewer", "operator", "admin")
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, InvalidHashError):
        return False


def new_secret() -> tuple[str, str]:
    """A random secret for a token or session, and the hash to store."""
    secret = secrets.token_urlsafe(32)
    return secret, secret_hash(secret)


def secret_hash(secret: str) -> str:
    """SHA-256 of a high-entropy secret (a slow hash is for passwords, not for these)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated user and the scope of what they may see."""

    user_id: int
    username: str
    role: str
    park: str
    enterprise: str | None  # None: the whole park

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Principal:
        """From an app_user row."""
        return cls(row["id"], row["username"], row["role"], row["park_id"], row["enterprise"])

    def describe(self) -> dict[str, Any]:
        """Who this is and what they may see, as the API shows it."""
        return {
            "username": self.username,
            "role": self.role,
            "park": self.park,
            "enterprise": self.enterprise,
        }

    def at_least(self, role: str) -> bool:
        """Whether this user's role includes `role`'s rights."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees(self, park: str, enterprise: str | None) -> bool:
        """Whether a park/enterprise subject is inside this user's scope."""
        return park == self.park and (self.enterprise is None or enterprise == self.enterprise)
