"""File uploads: a manifest as the `file` part of multipart/form-data (as every Cumulocity client
sends it, with any part content type, with or without a filename), or as the raw body (text/csv)
on the native API.

The part's bytes are taken as sent: Starlette's form parser would decode a part without a filename
(c8y-api's `post_file` sends one) as text and lose the file's own encoding (e.g. Windows-1252), so
python-multipart's streaming parser is driven here directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from admittance.http.body import read_body
from admittance.http.params import header, media_type
from admittance.kernel.errors import InvalidInput, MalformedInput, PayloadTooLarge, UnsupportedMediaType

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE_PART = "file"
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file
_MAX_PARTS = 16


async def read_upload(request: Request, max_bytes: int, *, raw_allowed: bool = False) -> bytes:
    content_type = header(request, "content-type") or ""
    base = media_type(request)
    if base != "multipart/form-data":
        if raw_allowed and base in ("text/csv", "text/plain", "application/octet-stream", ""):
            return await read_body(request, max_bytes)
        accepted = "multipart/form-data with a part named 'file'"
        if raw_allowed:
            accepted += ", or the CSV itself as text/csv"
        raise UnsupportedMediaType(f"Unsupported media type {content_type or '(none)'}: send {accepted}")
    try:
        body = await read_body(request, max_bytes + _MULTIPART_OVERHEAD)
    except PayloadTooLarge:  # name the configured limit, not the one with the multipart allowance
        raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes") from None
    data = file_part(content_type, body)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes")
    return data


def file_part(content_type: str, body: bytes) -> bytes:
    """The bytes of the part named `file` of a multipart/form-data body."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedInput("The multipart body has no boundary in its Content-Type")
    reader = _Parts()
    parser = MultipartParser(boundary, reader.callbacks())
    try:
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise MalformedInput(f"The multipart body cannot be read: {exc}") from exc
    if reader.too_many:
        raise MalformedInput(f"The multipart body has more than {_MAX_PARTS} parts")
    found = reader.parts.get(FILE_PART)
    if found is None:
        raise InvalidInput("The multipart body must have a part named 'file'", field=FILE_PART)
    return bytes(found)


class _Parts:
    """Collects each part's name and raw bytes."""

    def __init__(self) -> None:
        self.parts: dict[str, bytearray] = {}
        self.too_many = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._data = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_part_data": self._part_data,
            "on_part_end": self._end,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
        }

    def _begin(self) -> None:
        self._disposition, self._data = b"", bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._data.extend(data[start:end])

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name.extend(data[start:end])

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value.extend(data[start:end])

    def _header_end(self) -> None:
        if bytes(self._header_name).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _end(self) -> None:
        if len(self.parts) >= _MAX_PARTS:
            self.too_many = True
            return
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name")
        if name is not None:
            self.parts.setdefault(name.decode("utf-8", "replace"), self._data)
