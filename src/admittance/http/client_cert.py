"""The verified client certificate of a request, from one of two sources only:

1. The TLS handshake, when `admittance serve` terminates TLS itself: the ASGI TLS extension
   (`scope["extensions"]["tls"]["client_cert_chain"]`, PEM, leaf first), which our uvicorn
   protocol (http/tls.py) fills in. The server asks for client certificates with CERT_OPTIONAL:
   a certificate that is presented but does not verify against the client CA bundle fails the
   handshake, so a certificate in the scope is always a verified one.
2. A header set by a reverse proxy that terminated TLS and verified the certificate
   (settings `client_cert_header`, default `x-client-cert`), believed only when the connection
   comes from an address in `trusted_proxies`. The same header from anyone else is refused with
   403 rather than ignored: a silently ignored header hides a misconfigured proxy, and refusing
   makes a spoofing attempt visible.

Either way the certificate is only a claim of identity: IssuingService.principal_for_certificate
still checks that we issued it, that it is unexpired and unrevoked (per request, in the database),
and that its owner may use certificates. See docs/operations/client-certificates.md.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request

from admittance.http.params import header
from admittance.kernel.errors import MalformedInput, PermissionDenied
from admittance.settings import Settings

_PEM_BLOCK = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
# A DER certificate longer than this is not one we would issue; refuse before decoding.
_MAX_HEADER_CHARS = 16_384

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The `trusted_proxies` setting (comma-separated addresses or CIDRs) parsed; ValueError if malformed."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip())


def is_trusted_proxy(address: str | None, settings: Settings) -> bool:
    networks = trusted_networks(settings.tls.trusted_proxies)
    if not networks or not address:
        return False
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:  # a unix socket or a test client's made-up name
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return any(peer in network for network in networks)


def forwarded_certificate_header(request: Request, settings: Settings) -> str | None:
    """The proxy's client-certificate header, if the request carries one; PermissionDenied when the
    connection does not come from a trusted proxy. An empty header ("" returned) means the proxy saw
    no certificate."""
    value = header(request, settings.tls.client_cert_header)
    if value is None:
        return None
    peer = request.client.host if request.client else None
    if not is_trusted_proxy(peer, settings):
        raise PermissionDenied(
            f"the {settings.tls.client_cert_header} header is accepted only from a trusted proxy "
            "(setting trusted_proxies)"
        )
    return value.strip()


def der_from_header(value: str) -> bytes:
    """DER of the certificate a proxy forwarded: URL-encoded PEM (nginx $ssl_client_escaped_cert,
    Traefik), PEM with its newlines turned into spaces (Apache, some HAProxy setups), or base64 DER
    (Caddy's certificate_der_base64, HAProxy's ssl_c_der,base64)."""
    if len(value) > _MAX_HEADER_CHARS:
        raise MalformedInput("the forwarded client certificate is too long")
    text = unquote(value) if "%" in value else value
    block = _PEM_BLOCK.search(text)
    body = block.group(1) if block else text
    try:
        return base64.b64decode(_WHITESPACE.sub("", body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput("the forwarded client certificate is neither PEM nor base64 DER") from exc


def tls_client_certificate(scope: Any) -> bytes | None:
    """DER of the client certificate the TLS handshake verified (the ASGI TLS extension), if any."""
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls or tls.get("client_cert_error"):
        return None
    chain = tls.get("client_cert_chain") or ()
    if not chain:
        return None
    block = _PEM_BLOCK.search(chain[0])
    if block is None:
        return None
    return base64.b64decode(_WHITESPACE.sub("", block.group(1)))


def verified_client_certificate(request: Request, settings: Settings) -> bytes | None:
    """DER of the request's verified client certificate, or None when it has none.

    The trusted proxy's header wins over the TLS handshake (the proxy's own certificate, if it
    presents one to us, is not the device's). Raises PermissionDenied for the header from an
    untrusted address and MalformedInput for a header that does not decode. The caller still has to
    map the certificate to a principal (IssuingService.principal_for_certificate)."""
    forwarded = forwarded_certificate_header(request, settings)
    if forwarded is not None:  # behind a proxy, its connection's own certificate is never the device's
        return der_from_header(forwarded) if forwarded else None
    return tls_client_certificate(request.scope)


class ClientCertificates:
    """The source of verified client certificates this server is configured with (the trusted
    proxies and their header, or the TLS handshake), for the edges that authenticate with them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def verified(self, request: Request) -> bytes | None:
        return verified_client_certificate(request, self._settings)
