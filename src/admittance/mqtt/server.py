"""The bootstrap listener as `admittance serve` runs it: on when `mqtt_bootstrap_port` is set, TLS
with the HTTP server's certificate when TLS is on, one listener per server process (several worker
processes share the port)."""

from __future__ import annotations

import logging
import ssl

from admittance.bootstrap import Services
from admittance.mqtt.door import BootstrapDoor
from admittance.mqtt.listener import BootstrapListener
from admittance.settings import Settings

log = logging.getLogger("admittance.mqtt")


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The HTTP server's certificate and key (configured, or issued into the data folder at start)."""
    if not settings.tls.on:
        return None
    certificate, key = settings.tls.server_files(settings.data_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certificate, key)
    return context


async def start_bootstrap_listener(services: Services) -> BootstrapListener | None:
    settings = services.settings
    if not settings.mqtt_bootstrap.on:
        return None
    door = BootstrapDoor(services.identity, services.registrations, default_tenant=settings.default_tenant)
    listener = BootstrapListener(
        door.poll,
        door.admit,
        ssl_context=server_ssl_context(settings),
        max_connections=settings.mqtt_bootstrap.max_connections,
    )
    host = settings.mqtt_bootstrap.host or settings.host
    await listener.start(host, settings.mqtt_bootstrap.port, reuse_port=settings.workers > 1)
    log.info(
        "MQTT bootstrap listener on %s:%d%s",
        host,
        settings.mqtt_bootstrap.port,
        " (TLS)" if settings.tls.on else "",
    )
    return listener
