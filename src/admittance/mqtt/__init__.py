"""MQTT served by Admittance itself: the Cumulocity bootstrap listener (`s/ucr` -> `s/dcr`), a
minimal MQTT 3.1.1 server on asyncio (docs/decisions/0013). Knows nothing of the domain."""
