"""TLS for `admittance serve`: the server certificate, its key and the client CA bundle as files
for uvicorn, prepared once at start (docs/operations/client-certificates.md).

- Server certificate and key: `tls_certificate_file` / `tls_key_file` when set; otherwise (with
  `tls = true`) one issued from the device CA for `tls_server_names`, kept in <data>/tls/ (key mode
  0600) and issued again when missing, not for the configured names, from another CA, or in the
  last third of its validity.
- Client CA bundle: `tls_client_ca_file` when set; otherwise the trusted store (the device CA, its
  chain and the CAs added with POST /api/certificates), written to <data>/tls/client-ca.pem at every
  start (so a CA added or imported takes effect at the next start).

Client certificates are optional in the handshake (CERT_OPTIONAL) so that Basic and Bearer clients
use the same port; a certificate that is presented must verify, or the handshake fails.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from admittance.bootstrap import Services
from admittance.settings import Settings, SettingsError
from admittance.settings.sections import TLS_FOLDER

CLIENT_CA_FILE = "client-ca.pem"
# The uvicorn protocol that puts the verified client certificate into the scope (http/tls.py).
TLS_HTTP_PROTOCOL = "admittance.http.tls:TlsHttpToolsProtocol"


@dataclass(frozen=True)
class TlsFiles:
    certificate: Path
    key: Path
    client_ca: Path

    def uvicorn_options(self) -> dict[str, Any]:
        return {
            "ssl_certfile": str(self.certificate),
            "ssl_keyfile": str(self.key),
            "ssl_ca_certs": str(self.client_ca),
            "ssl_cert_reqs": ssl.CERT_OPTIONAL,
            "http": TLS_HTTP_PROTOCOL,
        }


def tls_wanted(settings: Settings) -> bool:
    return settings.tls.on


def server_names(settings: Settings) -> list[str]:
    names = [name.strip() for name in settings.tls.server_names.split(",") if name.strip()]
    if not names:
        raise SettingsError("tls_server_names is empty: name at least one host name or address")
    return names


def subject_alternative_names(names: list[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in names:
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


async def prepare_tls(services: Services) -> TlsFiles | None:
    """The files uvicorn needs, or None when TLS is off. Raises SettingsError for unusable files."""
    settings = services.settings
    if not tls_wanted(settings):
        return None
    folder = Path(settings.data_dir) / TLS_FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca_chain = await services.certificates.ca_certificates()
    if settings.tls.client_ca_file:
        client_ca = Path(settings.tls.client_ca_file)
    else:
        client_ca = folder / CLIENT_CA_FILE
        anchors = await services.trust_store.trust_anchors()
        _write(client_ca, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in anchors), 0o644)
    files = TlsFiles(*settings.tls.server_files(settings.data_dir), client_ca)
    if not settings.tls.certificate_file:
        names = server_names(settings)
        if not _still_good(files, names, ca_chain[0]):
            certificate_pem, key_pem = await services.certificates.issue_server_certificate(names)
            _write(files.key, key_pem, 0o600)
            _write(files.certificate, certificate_pem, 0o644)
    _check_loadable(files)
    return files


def _still_good(files: TlsFiles, names: list[str], issuer: x509.Certificate) -> bool:
    """The issued server certificate on disk is for these names, from this CA, with a third of its life left."""
    try:
        certificate = x509.load_pem_x509_certificate(files.certificate.read_bytes())
        files.key.stat()
    except (OSError, ValueError):
        return False
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
        sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    if sorted(map(str, sans)) != sorted(map(str, subject_alternative_names(names))):
        return False
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return datetime.now(UTC) < end - (end - start) / 3


def _write(path: Path, content: bytes, mode: int) -> None:
    """Write through a temporary file and a rename, so that no reader sees half a file, with `mode`
    from the start (the key is never readable by others, not even for a moment)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


def _check_loadable(files: TlsFiles) -> None:
    """Fail at start with a clear message rather than in uvicorn with a stack trace."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(files.certificate, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"cannot use the TLS server certificate {files.certificate} and key {files.key}: {exc}"
        ) from exc
    try:
        context.load_verify_locations(cafile=files.client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"cannot use the client CA bundle {files.client_ca}: {exc}") from exc
