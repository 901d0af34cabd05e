"""smartpark: eco-monitoring backend for smart industrial parks."""

__version__ = "0.1.0"
