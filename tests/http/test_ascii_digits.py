"""Numbers in query parameters and headers are ASCII decimal digits on every surface: "²" passes
str.isdigit() but int() refuses it, and "٣" passes str.isdecimal() and int() reads it as 3. Each
answers the surface's 4xx for a bad number, never a 500 (the console fix had reached only the console)."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.credentials import ADMIN_PASSWORD

SUPERSCRIPT_TWO = "\u00b2"
ARABIC_THREE = "\u0663"
ADMIN = {"authorization": "Basic " + base64.b64encode(f"t1/admin:{ADMIN_PASSWORD}".encode()).decode()}
DEVICE_JWT = {"authorization": "Bearer not-a-jwt"}  # the numbers are read before the JWT is verified

ODD_NUMBERS = {
    "nrf-page-limit": ("/v1/claimed-devices?pageLimit={}", ADMIN, 400),
    "nrf-identities-page-limit": ("/v1/identities/claimed-devices?pageLimit={}", ADMIN, 400),
    "nrf-device-type": ("/v1/claimed-devices?deviceType={}", ADMIN, 400),
    "nrf-commands-limit": ("/v1/provisioning/commands?limit={}", DEVICE_JWT, 400),
    "nrf-commands-rx-max-size": ("/v1/provisioning/commands?rxMaxSize={}", DEVICE_JWT, 400),
    "connectware-page-number": ("/api/listUsers?pageNumber={}", ADMIN, 400),
    "connectware-rows-per-page": ("/api/roles/page?rowsPerPage={}", ADMIN, 400),
    "cumulocity-page-size": ("/devicecontrol/newDeviceRequests?pageSize={}", ADMIN, 422),
    "native-jobs-page-size": ("/admittance/v1/jobs?pageSize={}", ADMIN, 422),
    "native-identity-keys-page-size": ("/admittance/v1/nrf/identity-keys?pageSize={}", ADMIN, 422),
}


@pytest.mark.parametrize(("path", "headers", "status"), ODD_NUMBERS.values(), ids=ODD_NUMBERS.keys())
@pytest.mark.parametrize("number", [SUPERSCRIPT_TWO, ARABIC_THREE], ids=["superscript-two", "arabic-three"])
async def test_a_number_that_is_not_ascii_digits_is_refused(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], status: int, number: str
) -> None:
    response = await client.get(path.format(number), headers=headers)
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("length", "status"), [(SUPERSCRIPT_TWO, 400), ("1" * 10_000, 413)], ids=["superscript-two", "ten-thousand-digits"]
)
async def test_an_odd_content_length_is_refused(client: httpx.AsyncClient, length: str, status: int) -> None:
    headers = [(name.encode(), value.encode()) for name, value in {**ADMIN, "content-type": "application/json"}.items()]
    # As sent, in the header's own bytes (httpx would write the true length).
    request = httpx.Request(
        "POST",
        "http://testserver/api/roles",
        headers=[*headers, (b"content-length", length.encode("latin-1"))],
        content=b"{}",
    )
    response = await client.send(request)
    assert response.status_code == status, response.text
