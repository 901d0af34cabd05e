"""The device registry: parks, enterprises and devices, imported from YAML."""
