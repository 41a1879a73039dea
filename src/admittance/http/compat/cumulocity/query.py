"""Cumulocity query parameters: paging (pageSize default 5, at most 2000, larger trimmed; currentPage) and flags."""

from __future__ import annotations

from collections.abc import Mapping

from admittance.kernel.errors import InvalidInput
from admittance.kernel.paging import PageRequest

DEFAULT_PAGE_SIZE = 5
MAX_PAGE_SIZE = 2000


def _positive(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdecimal() or int(raw) < 1 or len(raw) > 9:
        raise InvalidInput(f"{name} must be a positive whole number", field=name)
    return int(raw)


def page_request(query: Mapping[str, str]) -> PageRequest:
    size = min(_positive(query, "pageSize", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
    current = _positive(query, "currentPage", 1)
    with_total = any(query.get(flag, "").lower() == "true" for flag in ("withTotalPages", "withTotalElements"))
    return PageRequest(current, size, with_total)


def flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean parameter: true or false in any case; absent or empty is the default."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return raw.lower() == "true"
