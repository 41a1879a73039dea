"""The sections of the edge's own settings (the domain's policies live in their contexts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TLS_FOLDER = "tls"  # under the data folder: the issued server certificate and the client CA bundle
ISSUED_CERTIFICATE_FILE = "server.pem"
ISSUED_KEY_FILE = "server-key.pem"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS in `admittance serve` and client certificates (docs/operations/client-certificates.md)."""

    enabled: bool = False  # serve HTTPS; also on when certificate_file is set
    certificate_file: str = ""  # server certificate chain (PEM); empty with TLS on: issued from the device CA
    key_file: str = ""  # its private key (PEM)
    client_ca_file: str = ""  # client-certificate CA bundle; empty: the trusted store (device CA, chain, added)
    server_names: str = "localhost,127.0.0.1"  # DNS names / addresses of the issued server certificate
    trusted_proxies: str = ""  # addresses/CIDRs whose client_cert_header is believed; empty: nobody's
    client_cert_header: str = "x-client-cert"  # verified client certificate from a trusted proxy (URL-encoded PEM)

    @property
    def on(self) -> bool:
        return self.enabled or bool(self.certificate_file)

    def server_files(self, data_dir: Path) -> tuple[Path, Path]:
        """The server certificate chain and key every listener of `admittance serve` uses: the
        configured files, or those issued from the device CA into the data folder at start."""
        if self.certificate_file:
            return Path(self.certificate_file), Path(self.key_file)
        folder = Path(data_dir) / TLS_FOLDER
        return folder / ISSUED_CERTIFICATE_FILE, folder / ISSUED_KEY_FILE


@dataclass(frozen=True, slots=True)
class OperatorCaFiles:
    """The operator's CA (docs/operations/pki.md): certificate and key files (PEM; the key optionally
    encrypted with key_password), its chain up to the root optional; both files or neither."""

    certificate_file: str = ""
    key_file: str = ""
    key_password: str = ""
    chain_file: str = ""


@dataclass(frozen=True, slots=True)
class BrokerHookSettings:
    """The brokers' HTTP questions: /api/broker/auth/* (VerneMQ, Connectware's paths) and /broker/*
    (RabbitMQ, mosquitto-go-auth, EMQX, VerneMQ) (docs/operations/brokers.md)."""

    secret: str = ""  # required when set; empty: /api/broker/auth answers loopback callers only, /broker nobody
    cache_seconds: int = 0  # cache-control max-age on allowed VerneMQ answers; 0: no caching
    client_certificates: str = ""  # SHA-256 fingerprints of broker client certificates that may ask (mTLS)
    rabbitmq_vhost: str = "/"  # the one virtual host RabbitMQ's MQTT clients may use
    rabbitmq_exchange: str = "amq.topic"  # the topic exchange of RabbitMQ's MQTT plugin (mqtt.exchange)

    def certificate_fingerprints(self) -> frozenset[str]:
        return frozenset(
            part.strip().lower().replace(":", "") for part in self.client_certificates.split(",") if part.strip()
        )


@dataclass(frozen=True, slots=True)
class BackupSettings:
    dir: str = ""  # database backups (files named by id); empty: <data_dir>/backups
    max_upload_bytes: int = 1024 * 1024 * 1024  # a backup uploaded to POST /api/maintenance/db/restore


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The admin console (/console): a session ends after `idle_minutes` idle minutes (and at the latest
    after the session token's lifetime); its cookies are Secure unless `insecure_cookies` is set
    (only for a plain-HTTP server reached by another name than localhost, e.g. on a lab network)."""

    idle_minutes: float = 30.0
    insecure_cookies: bool = False


@dataclass(frozen=True, slots=True)
class MqttBootstrapSettings:
    """The Cumulocity MQTT bootstrap listener of `admittance serve` (ADR 0013): off while `port` is 0;
    TLS with the HTTP server's certificate when `tls` is on (TlsSettings)."""

    port: int = 0
    host: str = ""  # empty: the HTTP server's address
    max_connections: int = 10_000  # connections beyond this are closed at once (each costs ~2.5 KB idle)

    @property
    def on(self) -> bool:
        return self.port > 0
