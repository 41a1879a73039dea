"""The MQTT broker's questions answered by the identity and permission model: may this client connect,
publish, subscribe. Adapters for particular brokers build on the decisions and ports here."""
