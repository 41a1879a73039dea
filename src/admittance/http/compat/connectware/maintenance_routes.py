"""Database backup and restore on the Connectware-compatible surface: /api/maintenance/db...

`GET /api/maintenance/db` and `POST /api/maintenance/db/restore` are the seed's; listing, creating
and downloading backups are ours (docs/compat/connectware/maintenance.md). Every endpoint passes
the one permission policy on method and path (Guard.permitted); the service also requires the
installation's own tenants (management or default), since a backup spans every tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from admittance.http.body import is_json_media_type, parse_json_object, read_body
from admittance.http.compat.connectware import representations as rep
from admittance.http.guard import Guard
from admittance.http.state import AppState
from admittance.http.upload import read_upload
from admittance.kernel.errors import MalformedInput, UnsupportedMediaType
from admittance.maintenance.model import BackupFile, MaintenanceRun
from admittance.maintenance.service import MaintenanceService

_RAW_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


def run(found: MaintenanceRun | None) -> dict[str, Any] | None:
    if found is None:
        return None
    return {
        "id": found.id,
        "succeeded": found.succeeded,
        "statusMessage": found.status_message,
        "startDate": rep.iso(found.started_at),
        "endDate": None if found.finished_at is None else rep.iso(found.finished_at),
    }


def backup_file(found: BackupFile) -> dict[str, Any]:
    return {
        "id": found.id,
        "createdAt": found.created_at,
        "size": found.size,
        "rows": found.rows,
        "revision": found.revision,
        "appVersion": found.app_version,
        "dialect": found.dialect,
        "restorable": found.restorable,
    }


def routes(state: AppState, guard: Guard) -> list[BaseRoute]:
    def maintenance() -> MaintenanceService:
        return state.services.maintenance

    async def status(request: Request) -> Response:
        principal = await guard.permitted(request)
        found = await maintenance().status(principal)
        return rep.json_response({"running": found.running, "backup": run(found.backup), "restore": run(found.restore)})

    async def list_backups(request: Request) -> Response:
        principal = await guard.permitted(request)
        return rep.json_response([backup_file(item) for item in await maintenance().list_backups(principal)])

    async def create_backup(request: Request) -> Response:
        principal = await guard.permitted(request)
        created, _manifest = await maintenance().backup(principal)
        body = run(created)
        assert body is not None
        body["sha256"] = created.sha256
        return rep.json_response(body, 201)

    async def download(request: Request) -> Response:
        principal = await guard.permitted(request)
        # The file holds every tenant's password hashes and sealed keys: whoever may fetch it must
        # also be allowed to make one.
        principal.require_request("POST", "/api/maintenance/db/backup")
        backup_id = request.path_params["id"]
        path = await maintenance().download(principal, backup_id)
        return FileResponse(
            path,
            media_type="application/zip",
            filename=f"admittance-backup-{backup_id}.zip",
            headers={"cache-control": "no-store"},
        )

    async def restore(request: Request) -> Response:
        principal = await guard.permitted(request)
        service = maintenance()
        service.actor(principal)  # refuse other tenants before reading an upload
        content_type = request.headers.get("content-type", "")
        base = content_type.split(";", 1)[0].strip().lower()
        limit = state.services.settings.backups.max_upload_bytes
        if base == "multipart/form-data":
            data = await read_upload(request, limit)

            async def parts() -> AsyncIterator[bytes]:
                yield data

            upload = await service.save_upload(parts(), limit)
        elif base in _RAW_TYPES:
            upload = await service.save_upload(request.stream(), limit)
        elif is_json_media_type(content_type):
            upload = None
        else:
            raise UnsupportedMediaType(
                f'Unsupported media type {content_type}: send no body (the newest backup), JSON {{"id": ...}}, '
                "the backup file as application/zip, or multipart/form-data with a part named 'file'"
            )
        if upload is not None:
            try:
                await service.restore(principal, upload=upload)
            finally:
                upload.unlink(missing_ok=True)
            return rep.no_content()
        await service.restore(principal, backup_id=await _backup_id(request, state))
        return rep.no_content()

    return [
        Route("/api/maintenance/db", status, methods=["GET"]),
        Route("/api/maintenance/db/backups", list_backups, methods=["GET"]),
        Route("/api/maintenance/db/backup", create_backup, methods=["POST"]),
        Route("/api/maintenance/db/backups/{id}", download, methods=["GET"]),
        Route("/api/maintenance/db/restore", restore, methods=["POST"]),
    ]


async def _backup_id(request: Request, state: AppState) -> str | None:
    """`{"id": "..."}`, or nothing at all (the newest stored backup)."""
    raw = await read_body(request, state.services.settings.max_body_bytes)
    if not raw.strip():
        return None
    value = parse_json_object(raw).get("id")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise MalformedInput("'id' must be the id of a stored backup")
    return value
