"""Query parameters, headers and path parameters: the one place where text from a URL or a header
becomes a value. Every surface reads them through these functions, never from the request itself.

A number is ASCII decimal digits only: `str.isdigit()` also takes "²" (which `int()` refuses) and
`str.isdecimal()` takes "٣" (which `int()` reads as 3). No more digits are converted than the
largest acceptable value has, so a 10 kB parameter costs nothing and never reaches `int()`'s
4,300-digit limit. Each surface chooses the error (and so the status and message) of a bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from admittance.kernel.errors import AdmittanceError, NotFound

Refusal = Callable[[str], AdmittanceError]  # the error for a bad value, given the value


def is_digits(text: str) -> bool:
    """One or more ASCII decimal digits, nothing else (no sign, no space, no "²")."""
    return text.isascii() and text.isdecimal()


def digits_value(text: str, high: int) -> int | None:
    """The value of `text` when it is ASCII decimal digits, else None. A value above `high` comes
    back as `high + 1` (without converting more digits than `high` has), so that a range check
    still refuses it."""
    if not is_digits(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > len(str(high)):
        return high + 1
    return int(significant or "0")


def whole_number(text: str, low: int, high: int) -> int | None:
    """The value of `text` when it is ASCII decimal digits naming a number from `low` to `high`."""
    value = digits_value(text, high)
    return value if value is not None and low <= value <= high else None


# -- query parameters -------------------------------------------------------------------------------


def query(request: Request, name: str) -> str | None:
    """The value of a query parameter (the last one when it is repeated), None when absent."""
    return request.query_params.get(name)


def query_values(request: Request, *names: str) -> list[str]:
    """Every value of the named query parameters, in order (`?tag=a&tag=b`)."""
    params = request.query_params
    return [value for name in names for value in params.getlist(name)]


def query_items(request: Request) -> dict[str, str]:
    """The query as a plain mapping (the last value of a repeated name), e.g. to carry filters into links."""
    return dict(request.query_params)


def query_number(
    request: Request,
    name: str,
    *,
    low: int,
    high: int,
    refuse: Refusal,
    strict: bool = False,
    spaces: bool = False,
) -> int | None:
    """A whole-number query parameter from `low` to `high`; None when absent or empty (when
    `strict`, only when absent); `refuse(value)` for anything else. `spaces`: surrounding spaces allowed."""
    raw = request.query_params.get(name)
    if raw is None or (raw == "" and not strict):
        return None
    value = whole_number(raw.strip() if spaces else raw, low, high)
    if value is None:
        raise refuse(raw)
    return value


def query_flag(
    request: Request,
    name: str,
    *,
    default: bool | None,
    refuse: Refusal,
    words: Mapping[str, bool] | None = None,
    strip: bool = False,
) -> bool | None:
    """A boolean query parameter: one of `words` (default "true"/"false") in any case; absent or
    empty is `default`."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    found = (words or _TRUE_FALSE).get((raw.strip() if strip else raw).lower())
    if found is None:
        raise refuse(raw)
    return found


def query_list(request: Request, name: str) -> tuple[str, ...]:
    """Repeated (`?k=a&k=b`), comma-separated (`?k=a,b`) or bracketed (`?k[]=a`) values, trimmed,
    without empties and duplicates, in order."""
    values: list[str] = []
    for raw in query_values(request, name, f"{name}[]"):
        values += [part.strip() for part in raw.split(",") if part.strip()]
    return tuple(dict.fromkeys(values))


_TRUE_FALSE = {"true": True, "false": False}


# -- headers ----------------------------------------------------------------------------------------


def header(request: Request, name: str) -> str | None:
    """A request header (names are case-insensitive), None when absent."""
    return request.headers.get(name)


def has_header(request: Request, name: str) -> bool:
    return name in request.headers


def header_number(request: Request, name: str, high: int) -> int | None:
    """A header holding a whole number (Content-Length): None when absent; `high + 1` for anything
    larger; ValueError when it is not ASCII decimal digits."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    value = digits_value(raw.strip(), high)
    if value is None:
        raise ValueError(name)
    return value


def media_type(request: Request) -> str:
    """The Content-Type's type/subtype, lower case, without parameters ("" when absent)."""
    return (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


# -- path parameters --------------------------------------------------------------------------------


def path_text(request: Request, name: str) -> str:
    """A path parameter (already percent-decoded). No stored id contains NUL: such a path finds nothing."""
    value = str(request.path_params[name])
    if "\x00" in value:
        raise NotFound(f"Nothing is stored under that {name}")
    return value


def path_number(request: Request, name: str, high: int, refuse: Refusal) -> int:
    """A path parameter that is a whole number from 0 to `high`; `refuse(value)` otherwise (usually a
    NotFound: no stored id is spelled any other way)."""
    raw = str(request.path_params[name])
    value = whole_number(raw, 0, high)
    if value is None:
        raise refuse(raw)
    return value


class StoredId(Convertor[int]):
    """`{name:id}`: a path segment that can be a stored integer id, 1 to 18 ASCII digits. Starlette's
    `int` takes any number of digits, which the database refuses (and int() of 10 kB of them raises)."""

    regex = "[0-9]{1,18}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", StoredId())  # a path syntax, like Starlette's own: registered with the module
