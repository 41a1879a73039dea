"""Mosquitto 2.0's dynamic-security plugin: its password entries, its configuration file and the
admin commands it takes on `$CONTROL/dynamic-security/v1`. Knows nothing of Admittance's domain."""
