"""Adapters to systems outside Admittance that are not HTTP surfaces of its own (MQTT brokers)."""
