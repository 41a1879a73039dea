"""Routing picks the error shape: an unknown path, a wrong method and a bare prefix below each
surface answer in that surface's shape; paths outside every surface answer RFC 9457."""

from __future__ import annotations

import httpx
import pytest

CUMULOCITY_ERROR = "application/vnd.com.nsn.cumulocity.error+json;charset=UTF-8;ver=0.9"
C8Y_KEYS = {"error", "message", "info"}
# (method, path, status, media type, keys of the body)
CASES = {
    "cumulocity-unknown": ("GET", "/devicecontrol/nothing-here", 404, CUMULOCITY_ERROR, C8Y_KEYS),
    "cumulocity-tenant": ("GET", "/tenant/options", 404, CUMULOCITY_ERROR, C8Y_KEYS),
    "cumulocity-method": ("PATCH", "/devicecontrol/newDeviceRequests", 405, CUMULOCITY_ERROR, C8Y_KEYS),
    "est-unknown": ("GET", "/.well-known/est/csrattrs", 404, "application/json", C8Y_KEYS),
    "connectware-unknown": ("GET", "/api/nothing-here", 404, "application/json", {"statusCode", "error", "message"}),
    "connectware-bare": ("GET", "/api", 404, "application/json", {"statusCode", "error", "message"}),
    "connectware-method": ("PATCH", "/api/login", 405, "application/json", {"statusCode", "error", "message"}),
    "nrfcloud-unknown": ("GET", "/v1/nothing-here", 404, "application/json", {"message", "code"}),
    "nrfcloud-method": ("PATCH", "/v1/provisioning/commands", 405, "application/json", {"message", "code"}),
    "native-unknown": ("GET", "/admittance/v1/nothing-here", 404, "application/problem+json",
                       {"type", "title", "status", "detail"}),
    "outside": ("GET", "/nothing-here", 404, "application/problem+json", {"type", "title", "status", "detail"}),
    "outside-near-a-prefix": ("GET", "/apis", 404, "application/problem+json", {"type", "title", "status", "detail"}),
}  # fmt: skip


@pytest.mark.parametrize(("method", "path", "status", "media_type", "keys"), CASES.values(), ids=CASES.keys())
async def test_an_error_answers_in_the_shape_of_the_surface_that_routed_it(
    client: httpx.AsyncClient, method: str, path: str, status: int, media_type: str, keys: set[str]
) -> None:
    response = await client.request(method, path)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == media_type
    assert set(response.json()) == keys


async def test_an_unknown_console_path_is_a_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
