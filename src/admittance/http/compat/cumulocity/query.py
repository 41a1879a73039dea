"""Cumulocity query flags (paging: http/paging.py)."""

from __future__ import annotations

from collections.abc import Mapping

from admittance.kernel.errors import InvalidInput


def flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean parameter: true or false in any case; absent or empty is the default."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        raise InvalidInput(f"{name} must be true or false", field=name)
    return raw.lower() == "true"
