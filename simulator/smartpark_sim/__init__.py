"""smartpark-sim: a park of simulated meters and analysers speaking smartpark's MQTT contract."""
