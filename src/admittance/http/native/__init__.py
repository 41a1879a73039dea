"""Admittance's own API (/admittance/v1): what no vendor surface offers, such as background imports."""

from admittance.http.native.jobs_routes import PREFIX, routes

__all__ = ["PREFIX", "routes"]
