"""Entry point for uvicorn worker processes: settings from the ADMITTANCE_* environment."""

from __future__ import annotations

import os

from admittance.http.app import Admittance, create_app
from admittance.settings import load_settings


def app_factory() -> Admittance:
    return create_app(load_settings(os.environ))
