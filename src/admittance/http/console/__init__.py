"""The admin web console (/console): server-rendered pages over the same services as the APIs.

One module per area, each with its routes table at the top and its pages as a class given only the
services it uses (`mount.py` wires them into the console's surface); `page.py` is the gate every
signed-in page passes (session, idle timeout, MFA enrollment, CSRF, permissions, readable errors),
`core.py` the rendering, `cookies.py` the signed cookies, `signin.py` signing in and out,
`errors.py` the surface's error page. Templates are Jinja2 (autoescaped), the CSS and the small
script are our own files under static/ (no build step, no third-party JavaScript)."""

from __future__ import annotations

from admittance.http.console.core import PREFIX
from admittance.http.console.errors import render_problem
from admittance.http.console.mount import surface

__all__ = ["PREFIX", "render_problem", "surface"]
