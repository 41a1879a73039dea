"""(being built)"""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.state import AppState


def routes(state: AppState) -> list[BaseRoute]:
    return []
