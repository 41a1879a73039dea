"""Cumulocity's official Python client c8y_api pointed at a real server, as the operator."""

from __future__ import annotations

from c8y_api import CumulocityApi

from tests.support.credentials import ADMIN_PASSWORD
from tests.support.server import ServerProcess


def operator(server: ServerProcess) -> CumulocityApi:
    return CumulocityApi(server.base_url, "t1", "admin", ADMIN_PASSWORD)
