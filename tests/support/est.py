"""EST test helpers: CSRs and keys made by the openssl command line (a real client's tooling: no EST
client package exists on PyPI or in Debian), requests as an EST client sends them, and answers
parsed and verified by openssl."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import httpx

from tests.support import secrets as leak_check

OPENSSL = "/usr/bin/openssl"
CACERTS = "/.well-known/est/cacerts"
ENROLL = "/.well-known/est/simpleenroll"
REENROLL = "/.well-known/est/simplereenroll"


def openssl(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run([OPENSSL, *args], input=data, capture_output=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def make_csr(folder: Path, common_name: str, *, name: str = "device", key: Path | None = None) -> tuple[bytes, Path]:
    """A base64 DER PKCS#10 (64-character lines, as `openssl base64` writes) and its EC P-256 key file."""
    csr_der = folder / f"{name}.csr.der"
    if key is None:
        key = folder / f"{name}.key.pem"
        openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-subj", f"/CN={common_name}", "-outform", "DER", "-out", str(csr_der),
        )  # fmt: skip
    else:
        openssl("req", "-new", "-key", str(key), "-subj", f"/CN={common_name}", "-outform", "DER", "-out", str(csr_der))
    return openssl("base64", "-in", str(csr_der)), key


def basic(device_id: str, password: str) -> dict[str, str]:
    leak_check.register(password)
    return {"Authorization": "Basic " + base64.b64encode(f"{device_id}:{password}".encode()).decode()}


async def enroll(client: httpx.AsyncClient, device_id: str, password: str, csr: bytes) -> httpx.Response:
    headers = {
        **basic(device_id, password),
        "Content-Type": "application/pkcs10",
        "Content-Transfer-Encoding": "base64",
    }
    return await client.post(ENROLL, content=csr, headers=headers)


def certificates_pem(folder: Path, answer: bytes, name: str) -> Path:
    """The certificates of a base64 PKCS#7 answer as PEM, as `openssl pkcs7 -print_certs` reads them."""
    der = folder / f"{name}.p7.der"
    der.write_bytes(base64.b64decode(answer))
    pem = folder / f"{name}.pem"
    openssl("pkcs7", "-inform", "DER", "-in", str(der), "-print_certs", "-out", str(pem))
    return pem


def verify(folder: Path, chain_pem: Path, leaf_pem: Path) -> str:
    """`openssl verify` of the leaf against the cacerts chain (the root trusted, the rest untrusted)."""
    return openssl("verify", "-CAfile", str(chain_pem), "-purpose", "sslclient", str(leaf_pem)).decode()
