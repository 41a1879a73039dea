"""Links in response bodies: the base URL every surface writes them against, and path segments."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from admittance.http.params import header


class Links:
    """The base URL of links: the configured public URL, else the scheme and Host of the request."""

    def __init__(self, public_url: str) -> None:
        self._public = public_url.rstrip("/")

    def base(self, request: Request) -> str:
        if self._public:
            return self._public
        return f"{request.url.scheme}://{header(request, 'host') or request.url.netloc}"


def segment(value: str) -> str:
    """`value` as one path segment (every reserved character escaped, '/' included)."""
    return quote(value, safe="")
