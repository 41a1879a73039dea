"""Admittance: a self-hosted zero-touch device onboarding and identity server."""

__version__ = "0.1.0"
