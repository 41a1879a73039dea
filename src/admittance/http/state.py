"""The services a running app uses, set once by the app's lifespan (or by a test)."""

from __future__ import annotations

from admittance.bootstrap import Services


class AppState:
    def __init__(self, services: Services | None = None) -> None:
        self._services = services

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the app has not started")
        return self._services

    def set(self, services: Services | None) -> None:
        self._services = services
