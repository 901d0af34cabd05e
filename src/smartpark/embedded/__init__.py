"""Embedded services for the zero-install default: PostgreSQL from a wheel, an in-process broker."""
