"""Exceptions shared across features; each message names what was wrong."""


class SmartparkError(Exception):
    """Base class for errors smartpark reports to a person."""


class ConfigurationError(SmartparkError):
    """A setting or configuration file is invalid."""


class RegistryError(SmartparkError):
    """A device registry file is invalid."""


class RejectedReading(SmartparkError):
    """A reading or message breaks the device contract; the message is the dead-letter reason."""
