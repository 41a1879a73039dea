"""Members of a JSON object body: the one reader of a text, a flag, an array or an object member.

Surfaces differ in how they refuse: Connectware answers a member of the wrong JSON type with 400
and a missing one with 422, Cumulocity both with 422 in its own words, our PKI API both with 400.
A surface says so once, in its `Fields`, and reads every member through it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from admittance.kernel.errors import InvalidInput, MalformedInput

Refusal = Callable[[str, str], Exception]  # (message, member name) -> the exception to raise


def malformed(message: str, name: str) -> Exception:
    return MalformedInput(message, field=name)


def invalid(message: str, name: str) -> Exception:
    return InvalidInput(message, field=name)


class Blank(Enum):
    """What an empty string is: a value like any other, the same as an absent member, or refused."""

    KEPT = "kept"
    ABSENT = "absent"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Fields:
    """How one surface reads members: the refusal (and its words) for a wrong JSON type and for a
    missing required member, and what an empty string is. JSON null is the same as absent."""

    wrong_type: Refusal = malformed
    missing: Refusal = invalid
    not_text: str = "{} must be a string"
    required: str = "{} is required"
    blank: Blank = Blank.KEPT

    def text(self, body: dict[str, Any], name: str) -> str | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.wrong_type(self.not_text.format(name), name)
        if value == "":
            if self.blank is Blank.ABSENT:
                return None
            if self.blank is Blank.REFUSED:
                raise self.wrong_type(self.not_text.format(name), name)
        return value

    def required_text(self, body: dict[str, Any], name: str) -> str:
        value = self.text(body, name)
        if value is None:
            raise self.missing(self.required.format(name), name)
        return value

    def flag(self, body: dict[str, Any], name: str) -> bool | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.wrong_type(f"{name} must be true or false", name)
        return value

    def array(self, body: dict[str, Any], name: str) -> list[Any] | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, list):
            raise self.wrong_type(f"{name} must be an array", name)
        return value

    def objects(self, body: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
        items = self.array(body, name)
        if items is not None and not all(isinstance(item, dict) for item in items):
            raise self.wrong_type(f"every item of {name} must be an object", name)
        return items

    def strings(self, body: dict[str, Any], name: str) -> list[str] | None:
        items = self.array(body, name)
        if items is not None and not all(isinstance(item, str) for item in items):
            raise self.wrong_type(f"every item of {name} must be a string", name)
        return items

    def mapping(self, body: dict[str, Any], name: str) -> dict[str, Any] | None:
        value = body.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.wrong_type(f"{name} must be an object", name)
        return value
