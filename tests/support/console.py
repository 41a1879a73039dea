"""Driving the console without a browser: an httpx client that signs in through the forms and
sends each form's CSRF token, for the fast permission, CSRF and error tests on both databases."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from admittance.bootstrap import Services
from admittance.http.app import create_app
from admittance.kernel import totp
from admittance.settings import Settings

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_MANUAL_KEY = re.compile(r'id="manual-key">([A-Z2-7 ]+)<')


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return html.unescape(found.group(1))


def manual_key_of(page: str) -> str:
    found = _MANUAL_KEY.search(page)
    assert found, "the page shows no manual key"
    return found.group(1).replace(" ", "")


def current_code(secret: str, ahead: int = 0) -> str:
    """The TOTP code of now, or of `ahead` time steps later (the server accepts one step either side)."""
    return totp.code_at(secret, time.time() + ahead * totp.PERIOD_SECONDS)


class ConsoleClient:
    """A browser-like session: cookies kept, redirects not followed (tests look at them)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.http.get(path, **kwargs)
        if response.status_code == 200 and "csrf_token" in response.text:
            self.csrf = csrf_of(response.text)
        return response

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, csrf: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        """A form post with the session's CSRF token (fetched from the dashboard when not known yet)."""
        if csrf is None and not self.csrf:
            await self.get("/console/")
        form = {"csrf_token": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.http.post(path, data=form, **kwargs)

    async def sign_in(self, username: str, password: str, *, code: str | None = None) -> httpx.Response:
        """Password (and code, when the account has MFA); the final response (a redirect when it worked)."""
        form = await self.http.get("/console/sign-in")
        answer = await self.http.post(
            "/console/sign-in",
            data={"csrf_token": csrf_of(form.text), "username": username, "password": password, "next": "/console/"},
        )
        if answer.status_code == 303 and "/sign-in/code" in answer.headers["location"]:
            assert code is not None, "the account asks for a code"
            step = await self.http.get(answer.headers["location"])
            answer = await self.http.post(
                "/console/sign-in/code", data={"csrf_token": csrf_of(step.text), "code": code, "next": "/console/"}
            )
        self.csrf = ""
        return answer


@asynccontextmanager
async def another_console(settings: Settings, services: Services) -> AsyncIterator[ConsoleClient]:
    """A second browser (its own cookies) on the same server."""
    transport = httpx.ASGITransport(app=create_app(settings, services), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield ConsoleClient(http)
