"""Entry point for uvicorn worker processes: settings from the ADMITTANCE_* environment."""

from __future__ import annotations

import os

from admittance.http.app import FastLane, create_app
from admittance.settings import load_settings


def app_factory() -> FastLane:
    return create_app(load_settings(os.environ))
