"""The ASGI TLS extension for uvicorn, which does not put the peer certificate into the scope.

ASGI's TLS extension (https://asgi.readthedocs.io/en/latest/specs/tls.html) describes the TLS
connection under `scope["extensions"]["tls"]`. Our protocol class below is uvicorn's httptools
protocol plus that: the handshake is complete when asyncio calls `connection_made` (for an SSL
transport the app protocol is connected only after the handshake), so the extension is computed
once per connection there and attached to the scope of every request on that connection.

Python's ssl module gives the peer's leaf certificate only (the verified chain needs 3.13), so
`client_cert_chain` holds one PEM string. The server asks with CERT_OPTIONAL: a presented
certificate that does not verify fails the handshake, so any certificate here was verified
(`client_cert_error` is always None). `admittance serve` selects this class when TLS is on
(cli/main.py); http/client_cert.py reads the extension.
"""

from __future__ import annotations

import asyncio
import ssl

from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# ASGI wants the TLS version as the protocol's number (0x0304 for TLS 1.3).
_TLS_VERSIONS = {"TLSv1": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(transport: asyncio.BaseTransport) -> dict[object, object] | None:
    """The TLS extension of a connection, or None when it is not TLS."""
    ssl_object = transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    der = ssl_object.getpeercert(binary_form=True)
    name = None
    if der:
        try:
            name = x509.load_der_x509_certificate(der).subject.rfc4514_string()
        except ValueError:  # verified by OpenSSL, but odd enough for cryptography: the name stays unknown
            name = None
    return {
        "server_cert": None,
        "client_cert_chain": (ssl.DER_cert_to_PEM_cert(der),) if der else (),
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,  # Python names the cipher but does not give its IANA number
    }


class TlsHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with `scope["extensions"]["tls"]` on TLS connections."""

    _tls: dict[object, object] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()  # creates self.scope for the new request
        if self._tls is not None:
            # A copy per request, so that nothing one request does to it is seen by the next.
            self.scope["extensions"] = {"tls": {**self._tls}}
