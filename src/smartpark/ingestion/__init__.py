"""Ingestion: MQTT messages in, readings stored once, everything else dead-lettered."""
