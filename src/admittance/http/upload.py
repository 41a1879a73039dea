"""File uploads: a manifest as the `file` part of multipart/form-data (as every Cumulocity client
sends it, with any part content type), or as the raw body (text/csv) on the native API."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from python_multipart.exceptions import MultipartParseError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from admittance.http.body import read_body
from admittance.kernel.errors import InvalidInput, MalformedInput, PayloadTooLarge, UnsupportedMediaType

FILE_PART = "file"
_MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file


async def read_upload(request: Request, max_bytes: int, *, raw_allowed: bool = False) -> bytes:
    content_type = request.headers.get("content-type", "")
    base = content_type.split(";", 1)[0].strip().lower()
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

    async def once() -> AsyncGenerator[bytes, None]:
        yield body

    parser = MultiPartParser(request.headers, once(), max_files=4, max_fields=16)
    try:
        form = await parser.parse()
    except (MultiPartException, MultipartParseError) as exc:
        raise MalformedInput(f"The multipart body cannot be read: {exc}") from exc
    try:
        part = form.get(FILE_PART)
        if not isinstance(part, UploadFile):
            raise InvalidInput("The multipart body must have a file part named 'file'", field=FILE_PART)
        data = await part.read()
    finally:
        await form.close()
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The file is larger than the limit of {max_bytes} bytes")
    return data
