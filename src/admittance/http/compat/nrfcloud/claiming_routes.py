"""/v1/claimed-devices and friends (docs/compat/nrfcloud/claiming.md)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from admittance.http.compat.nrfcloud.guard import Guard
from admittance.http.state import AppState


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    return []
