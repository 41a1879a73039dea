"""Console pages: imports (to be built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.console.core import Console


def routes(console: Console) -> list[BaseRoute]:
    return []
