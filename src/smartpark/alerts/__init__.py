"""Alerts: lifecycle from check results, and notifications through a transactional outbox."""
