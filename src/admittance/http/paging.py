"""Paging on the HTTP edge: offset pages (`pageSize`, `currentPage`, as Cumulocity pages and our own
API follows) with `self`/`next`/`prev` links, and opaque keyset tokens (`pageNextToken`)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request

from admittance.http.params import query, whole_number
from admittance.kernel.errors import InvalidInput, MalformedInput
from admittance.kernel.paging import Page, PageRequest

DEFAULT_PAGE_SIZE = 5
MAX_PAGE_SIZE = 2000
TOTAL_FLAGS = ("withTotalPages", "withTotalElements")
_MOST = 999_999_999  # nine digits, as Cumulocity takes them
_INT64 = 2**63


def _positive(request: Request, name: str, default: int) -> int:
    raw = query(request, name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw, 1, _MOST)
    if value is None:
        raise InvalidInput(f"{name} must be a positive whole number", field=name)
    return value


def page_request(request: Request) -> PageRequest:
    """`pageSize` (default 5, larger than 2000 trimmed), `currentPage` (from 1), and whether a total
    was asked for (`withTotalPages` or `withTotalElements`)."""
    size = min(_positive(request, "pageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    current = _positive(request, "currentPage", 1)
    with_total = any((query(request, flag) or "").lower() == "true" for flag in TOTAL_FLAGS)
    return PageRequest(current, size, with_total)


def offset_page(
    page: Page[Any],
    link: str,
    key: str,
    items: list[Any],
    *,
    keep: Mapping[str, str] | None = None,
    totals: Callable[[int], dict[str, int]] | None = None,
) -> dict[str, Any]:
    """A page as `{self, <key>: items, statistics, next?, prev?}`. The links keep the query `keep`
    (the filters); `totals(total)` says which totals the statistics show (default: totalElements)."""
    size, current = page.request.size, page.request.page

    def at(number: int) -> str:
        return f"{link}?{urlencode({**(keep or {}), 'pageSize': size, 'currentPage': number})}"

    statistics: dict[str, Any] = {"currentPage": current, "pageSize": size}
    if page.total is not None:
        statistics |= totals(page.total) if totals is not None else {"totalElements": page.total}
    document: dict[str, Any] = {"self": at(current), key: items, "statistics": statistics}
    if page.has_more:
        document["next"] = at(current + 1)
    if current > 1:
        document["prev"] = at(current - 1)
    return document


def encode_after(after: tuple[int, str]) -> str:
    """An opaque token for a keyset position (a number and a text), URL-safe."""
    return base64.urlsafe_b64encode(orjson.dumps([after[0], after[1]])).rstrip(b"=").decode("ascii")


def decode_after(token: str) -> tuple[int, str]:
    """The keyset position of a token from `encode_after`; MalformedInput for anything else."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise MalformedInput("Invalid pageNextToken") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or not isinstance(decoded[0], int)
        or not isinstance(decoded[1], str)
        or not -_INT64 <= decoded[0] < _INT64  # a position we wrote fits the database's integers
    ):
        raise MalformedInput("Invalid pageNextToken")
    return decoded[0], decoded[1]
