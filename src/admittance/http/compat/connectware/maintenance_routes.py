"""Database backup and restore on the Connectware-compatible surface: /api/maintenance/db...

`GET /api/maintenance/db` and `POST /api/maintenance/db/restore` are the seed's; listing, creating
and downloading backups are ours (docs/compat/connectware/maintenance.md). Every endpoint passes
the one permission policy on method and path (the mount); the service also requires the
installation's own tenants (management or default), since a backup spans every tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from admittance.http.body import is_json_media_type, parse_json_object, read_body
from admittance.http.compat.connectware.spec import GUARDED, NO_CONTENT, operation, path_id
from admittance.http.openapi import (
    BOOLEAN,
    INTEGER,
    JSON,
    NULLABLE_STRING,
    STRING,
    Answer,
    Field,
    WireObject,
    array,
    described,
    json_answer,
    member,
    nullable,
    out,
)
from admittance.http.params import header, media_type, path_text
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Row, guarded
from admittance.http.times import utc_millis, utc_millis_or_none
from admittance.http.upload import read_upload
from admittance.kernel.errors import MalformedInput, UnsupportedMediaType
from admittance.kernel.principal import Principal
from admittance.maintenance.model import BackupFile, MaintenanceRun
from admittance.maintenance.service import MaintenanceService

_RAW_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")
PREFIX = "/api/maintenance/db"


def routes(maintenance: Maintenance) -> list[Row]:
    return [
        guarded("GET", PREFIX, maintenance.status),
        guarded("GET", PREFIX + "/backups", maintenance.list_backups),
        guarded("POST", PREFIX + "/backup", maintenance.create_backup),
        guarded("GET", PREFIX + "/backups/{id}", maintenance.download),
        guarded("POST", PREFIX + "/restore", maintenance.restore),
    ]


RUN_FIELDS: list[Field[MaintenanceRun]] = [
    out("id", STRING, lambda r: r.id),
    out("succeeded", {"type": "boolean", "nullable": True, "description": "null while running"}, lambda r: r.succeeded),
    out("statusMessage", STRING, lambda r: r.status_message),
    out("startDate", STRING, lambda r: utc_millis(r.started_at)),
    out("endDate", described(NULLABLE_STRING, "null while running"), lambda r: utc_millis_or_none(r.finished_at)),
]
RUN = WireObject[MaintenanceRun]("MaintenanceRun", RUN_FIELDS)
BACKUP_RUN = WireObject[MaintenanceRun](
    "BackupRun", [*RUN_FIELDS, out("sha256", described(STRING, "Of the backup file"), lambda r: r.sha256)]
)
STATUS = WireObject[Any](
    "MaintenanceStatus",
    [
        member("running", BOOLEAN, required=True),
        member("backup", described(nullable("MaintenanceRun"), "The latest backup; null if none ran"), required=True),
        member("restore", described(nullable("MaintenanceRun"), "The latest restore; null if none ran"), required=True),
    ],
)
BACKUP_FILE = WireObject[BackupFile](
    "BackupFile",
    [
        out("id", STRING, lambda f: f.id),
        out("createdAt", STRING, lambda f: f.created_at),
        out("size", described(INTEGER, "Bytes"), lambda f: f.size),
        out("rows", INTEGER, lambda f: f.rows),
        out("revision", described(STRING, "The schema (Alembic) revision it was taken at"), lambda f: f.revision),
        out("appVersion", STRING, lambda f: f.app_version),
        out("dialect", {"type": "string", "enum": ["sqlite", "postgresql"]}, lambda f: f.dialect),
        out("restorable", described(BOOLEAN, "Taken at this database's schema revision"), lambda f: f.restorable),
    ],
)
RESTORE_BY_ID = WireObject[Any](
    "RestoreById", [member("id", described(STRING, "A stored backup's id; absent: the newest"))]
)
WIRE_OBJECTS = (RUN, STATUS, BACKUP_RUN, BACKUP_FILE, RESTORE_BY_ID)

_TAG = "maintenance"
_OUTSIDE = {403: "Not permitted, or the caller is outside the management and default tenants"}
_RUNNING = {409: "A backup or restore is running (in any process sharing the database)"}
_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
_DOWNLOAD = Answer(
    "The backup file",
    {"application/zip": _BINARY},
    {"Content-Disposition": {"schema": STRING, "description": "attachment; filename=..."}},
)
OPERATIONS = (
    operation("GET", PREFIX, "The latest backup and restore runs", _TAG, {200: json_answer("The runs", STATUS.use())},
              GUARDED, notes=_OUTSIDE),
    operation("POST", PREFIX + "/backup", "Back up the whole database into the backup folder (synchronously)", _TAG,
              {201: json_answer("The finished run", BACKUP_RUN.use())}, (*GUARDED, 409), notes=_OUTSIDE | _RUNNING),
    operation("GET", PREFIX + "/backups", "The stored backups, newest first", _TAG,
              {200: json_answer("The backups", array(BACKUP_FILE.use()))}, GUARDED, notes=_OUTSIDE),
    operation("GET", PREFIX + "/backups/{id}",
              "Download a stored backup (it holds every password hash and sealed key)", _TAG, {200: _DOWNLOAD},
              (*GUARDED, 404),
              notes={403: "Not permitted (a download also needs write on /api/maintenance/db/backup), or the "
                     "caller is outside the management and default tenants",
                     404: "No backup stored under that id"}),
    operation("POST", PREFIX + "/restore",
              "Replace the whole database with a backup (synchronously): a stored one or an uploaded file", _TAG,
              NO_CONTENT, (*GUARDED, 404, 409),
              media={JSON: RESTORE_BY_ID.use(), "application/zip": _BINARY, "application/octet-stream": _BINARY,
                     "multipart/form-data": WireObject[Any](None, [member("file", _BINARY, required=True)]).schema()},
              body_required=False,
              notes={**_OUTSIDE, **_RUNNING,
                     400: "Not JSON, or the backup is damaged or not a backup (nothing was changed)",
                     404: "No backup stored under that id (none at all, without an id)",
                     413: "The upload is larger than max_backup_upload_bytes",
                     415: "Another media type than JSON, a zip file or multipart/form-data",
                     422: "A multipart body without a part `file`; another format version or schema revision, "
                     "or rows the database refuses (nothing was changed)"}),
)  # fmt: skip
PATH_PARAMETERS = {PREFIX + "/backups/{id}": [path_id("id", "Id of the backup")]}


class Maintenance:
    def __init__(self, maintenance: MaintenanceService, max_body_bytes: int, max_upload_bytes: int) -> None:
        self._maintenance = maintenance
        self._max_body_bytes = max_body_bytes
        self._max_upload_bytes = max_upload_bytes

    async def status(self, _request: Request, principal: Principal) -> Response:
        found = await self._maintenance.status(principal)
        backup = RUN.render(found.backup) if found.backup is not None else None
        restore = RUN.render(found.restore) if found.restore is not None else None
        return json_response({"running": found.running, "backup": backup, "restore": restore})

    async def list_backups(self, _request: Request, principal: Principal) -> Response:
        return json_response([BACKUP_FILE.render(item) for item in await self._maintenance.list_backups(principal)])

    async def create_backup(self, _request: Request, principal: Principal) -> Response:
        created, _manifest = await self._maintenance.backup(principal)
        return json_response(BACKUP_RUN.render(created), 201)

    async def download(self, request: Request, principal: Principal) -> Response:
        # The file holds every tenant's password hashes and sealed keys: whoever may fetch it must
        # also be allowed to make one.
        principal.require_request("POST", "/api/maintenance/db/backup")
        backup_id = path_text(request, "id")
        path = await self._maintenance.download(principal, backup_id)
        return FileResponse(
            path,
            media_type="application/zip",
            filename=f"admittance-backup-{backup_id}.zip",
            headers={"cache-control": "no-store"},
        )

    async def restore(self, request: Request, principal: Principal) -> Response:
        service = self._maintenance
        service.actor(principal)  # refuse other tenants before reading an upload
        upload = await self._upload(request)
        if upload is not None:
            try:
                await service.restore(principal, upload=upload)
            finally:
                upload.unlink(missing_ok=True)
            return no_content()
        await service.restore(principal, backup_id=await self._backup_id(request))
        return no_content()

    async def _upload(self, request: Request) -> Path | None:
        """The uploaded backup saved to a file, or None when the body names a stored one (JSON)."""
        content_type, base = header(request, "content-type") or "", media_type(request)
        limit = self._max_upload_bytes
        if base == "multipart/form-data":
            data = await read_upload(request, limit)

            async def parts() -> AsyncIterator[bytes]:
                yield data

            return await self._maintenance.save_upload(parts(), limit)
        if base in _RAW_TYPES:
            return await self._maintenance.save_upload(request.stream(), limit)
        if is_json_media_type(content_type):
            return None
        raise UnsupportedMediaType(
            f'Unsupported media type {content_type}: send no body (the newest backup), JSON {{"id": ...}}, '
            "the backup file as application/zip, or multipart/form-data with a part named 'file'"
        )

    async def _backup_id(self, request: Request) -> str | None:
        """`{"id": "..."}`, or nothing at all (the newest stored backup)."""
        raw = await read_body(request, self._max_body_bytes)
        if not raw.strip():
            return None
        value = parse_json_object(raw).get("id")
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise MalformedInput("'id' must be the id of a stored backup")
        return value
