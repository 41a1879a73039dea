"""The console mount's error renderer: a problem outside any page handler (an unknown console path,
a wrong method, a crash) as a readable page that needs no session, never a stack trace."""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from admittance.http.console.core import harden
from admittance.http.errors import Problem

_PLAIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title} · Admittance</title>
<link rel="stylesheet" href="/console/static/console.css"></head><body><main id="main"><h1>{title}</h1>
<div class="flash flash-error" role="alert">{message}</div><p><a href="/console/">Back to the console</a></p>
</main></body></html>"""
_TITLES = {404: "Not found", 405: "Not allowed here"}


def render_problem(_request: Request, problem: Problem) -> Response:
    title = _TITLES.get(problem.status, "Something went wrong" if problem.status >= 500 else "That did not work")
    message = "There is no such page in the console." if problem.status == 404 else problem.message
    if problem.request_id:
        message = f"Something went wrong on our side (request id {problem.request_id})."
    body = _PLAIN_PAGE.format(title=html.escape(title), message=html.escape(message))
    return harden(HTMLResponse(body, status_code=problem.status))
