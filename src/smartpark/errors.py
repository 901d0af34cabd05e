"""Exceptions shared across features; each message names what was wrong."""

from pydantic import ValidationError


class SmartparkError(Exception):
    """Base class for errors smartpark reports to a person."""


class ConfigurationError(SmartparkError):
    """A setting or configuration file is invalid."""


class RegistryError(SmartparkError):
    """A device registry file is invalid."""


class RejectedReading(SmartparkError):
    """A reading or message breaks the device contract; the message is the dead-letter reason."""


def first_problem(exc: ValidationError, source: str) -> str:
    """The first validation problem as `source: dotted.path: message`."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{source}: {where}: {first['msg']}"
