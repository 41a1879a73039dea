"""JSON responses, the same on every surface: orjson, `application/json` unless a vendor type is given."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON = "application/json"


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None, media_type: str = JSON
) -> Response:
    return Response(orjson.dumps(document), status, headers=headers, media_type=media_type)


def no_content() -> Response:
    return Response(status_code=204)
