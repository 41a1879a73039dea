"""Registration requests in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from admittance.devices.model import RegistrationRequest, RegistrationStatus
from admittance.devices.store import DailyCount, QueueQuery
from admittance.kernel.clock import to_millis
from admittance.kernel.paging import Page, PageRequest
from admittance.storage.database import Executor
from admittance.storage.sql import rows

COLUMNS = (
    "id, tenant_id, status, owner, group_id, type, custom_properties, security_token_digest, "
    "enrollment_token_digest, token_failures, created_at, updated_at"
)


INSERT = (
    f"INSERT INTO registration_requests ({COLUMNS}) VALUES (:id, :tenant_id, :status, :owner, :group_id, "
    ":type, :custom_properties, :security_token_digest, :enrollment_token_digest, :token_failures, "
    ":created_at, :updated_at)"
)


def request_params(request: RegistrationRequest) -> dict[str, Any]:
    return {
        "id": request.id,
        "tenant_id": request.tenant_id,
        "status": request.status.value,
        "owner": request.owner,
        "group_id": request.group_id,
        "type": request.type,
        "custom_properties": rows.dumps(request.custom_properties),
        "security_token_digest": request.security_token_digest,
        "enrollment_token_digest": request.enrollment_token_digest,
        "token_failures": request.token_failures,
        "created_at": to_millis(request.created_at),
        "updated_at": to_millis(request.updated_at),
    }


class SqlRegistrationStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def insert(self, request: RegistrationRequest) -> bool:
        row = await self._db.fetch_one(INSERT + " ON CONFLICT (id) DO NOTHING RETURNING id", request_params(request))
        return row is not None

    async def get(self, request_id: str, *, for_update: bool = False) -> RegistrationRequest | None:
        lock = self._db.dialect.for_update if for_update else ""
        row = await self._db.fetch_one(
            f"SELECT {COLUMNS} FROM registration_requests WHERE id = :id{lock}", {"id": request_id}
        )
        return rows.registration(row) if row else None

    async def page(
        self, tenant_id: str | None, status: RegistrationStatus | None, page: PageRequest
    ) -> Page[RegistrationRequest]:
        where, params = _filter(tenant_id, status)
        found = await self._db.fetch_all(
            f"SELECT {COLUMNS} FROM registration_requests{where} ORDER BY created_at, id LIMIT :limit OFFSET :offset",
            {**params, "limit": page.size + 1, "offset": page.offset},
        )
        total = None
        if page.with_total:
            row = await self._db.fetch_one(f"SELECT count(*) AS n FROM registration_requests{where}", params)
            total = int(row["n"]) if row else 0
        items = [rows.registration(row) for row in found[: page.size]]
        return Page(items, page, total, has_more=len(found) > page.size)

    async def list_by_status(self, tenant_id: str | None, status: RegistrationStatus) -> list[RegistrationRequest]:
        where, params = _filter(tenant_id, status)
        found = await self._db.fetch_all(
            f"SELECT {COLUMNS} FROM registration_requests{where} ORDER BY created_at, id", params
        )
        return [rows.registration(row) for row in found]

    async def queue(self, query: QueueQuery) -> tuple[list[RegistrationRequest], bool]:
        # Keyset paging on (created_at, id), newest first: every page is an index range (ix_registration_
        # requests_created / _status_created / _tenant_created), however deep, with 100,000 requests.
        where, params = _filter(query.tenant_id, query.status)
        clauses: list[str] = [where[len(" WHERE ") :]] if where else []
        values: dict[str, Any] = dict(params)
        if query.id_prefix:
            # lower() on both sides, as the inventory search: the database folds the case the same way
            clauses.append("lower(id) LIKE lower(:prefix) ESCAPE '\\'")
            values["prefix"] = rows.escape_like(query.id_prefix) + "%"
        backwards = query.before is not None and query.after is None
        cursor = query.before if backwards else query.after
        if cursor is not None:
            op = ">" if backwards else "<"
            clauses.append(f"(created_at {op} :at OR (created_at = :at AND id {op} :cursor_id))")
            values.update(at=cursor[0], cursor_id=cursor[1])
        order = "created_at, id" if backwards else "created_at DESC, id DESC"
        sql = (
            f"SELECT {COLUMNS} FROM registration_requests"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" ORDER BY {order} LIMIT :limit"
        )
        found = await self._db.fetch_all(sql, {**values, "limit": query.limit + 1})
        more = len(found) > query.limit
        items = [rows.registration(row) for row in found[: query.limit]]
        if backwards:
            items.reverse()
        return items, more

    async def count_by_status(self, tenant_id: str | None) -> dict[RegistrationStatus, int]:
        where, params = _filter(tenant_id, None)
        names: dict[str, str] = {}
        if self._db.dialect.name == "sqlite":
            # Naming every status lets SQLite count on the (status, tenant_id) index alone; it
            # otherwise walks the tenant's rows (100,000 requests: 30 ms instead of 7). PostgreSQL
            # plans the plain query better (19 ms against 31 with the list; bench/console.py).
            names = {f"s{i}": status.value for i, status in enumerate(RegistrationStatus)}
            in_statuses = f"status IN ({', '.join(':' + name for name in names)})"
            where = f"{where} AND {in_statuses}" if where else f" WHERE {in_statuses}"
        found = await self._db.fetch_all(
            f"SELECT status, count(*) AS n FROM registration_requests{where} GROUP BY status", {**params, **names}
        )
        counts = dict.fromkeys(RegistrationStatus, 0)
        for row in found:
            if row["status"] in RegistrationStatus.__members__:
                counts[RegistrationStatus(row["status"])] = int(row["n"])
        return counts

    async def daily_counts(self, tenant_id: str | None, tags: Sequence[str], since: datetime) -> list[DailyCount]:
        names = {f"tag{i}": tag for i, tag in enumerate(tags)}
        if not names:
            return []
        params: dict[str, Any] = {**names, "since": to_millis(since)}
        scope = ""
        if tenant_id is not None:
            scope = " AND tenant_id = :tenant"
            params["tenant"] = tenant_id
        found = await self._db.fetch_all(
            "SELECT at / 86400000 AS day, tag, count(*) AS n FROM audit_events "
            f"WHERE tag IN ({', '.join(':' + name for name in names)}) AND at >= :since{scope} "
            "GROUP BY at / 86400000, tag ORDER BY day",
            params,
        )
        return [DailyCount(int(row["day"]), str(row["tag"]), int(row["n"])) for row in found]

    async def update_state(
        self,
        request_id: str,
        *,
        expected: RegistrationStatus,
        status: RegistrationStatus,
        security_token_digest: str | None,
        token_failures: int,
        updated_at: datetime,
    ) -> bool:
        changed = await self._db.execute(
            "UPDATE registration_requests SET status = :status, security_token_digest = :digest, "
            "token_failures = :failures, updated_at = :now WHERE id = :id AND status = :expected",
            {
                "status": status.value,
                "digest": security_token_digest,
                "failures": token_failures,
                "now": to_millis(updated_at),
                "id": request_id,
                "expected": expected.value,
            },
        )
        return changed > 0

    async def delete(self, request_id: str) -> bool:
        return await self._db.execute("DELETE FROM registration_requests WHERE id = :id", {"id": request_id}) > 0

    async def take_accepted(self, request_id: str) -> RegistrationRequest | None:
        # One statement decides who wins: a concurrent poll finds the row gone (PostgreSQL waits for
        # the row lock, then re-checks; SQLite serializes write transactions).
        row = await self._db.fetch_one(
            f"DELETE FROM registration_requests WHERE id = :id AND status = :accepted RETURNING {COLUMNS}",
            {"id": request_id, "accepted": RegistrationStatus.ACCEPTED.value},
        )
        return rows.registration(row) if row else None


def _filter(tenant_id: str | None, status: RegistrationStatus | None) -> tuple[str, dict[str, str]]:
    clauses, params = [], {}
    if tenant_id is not None:
        clauses.append("tenant_id = :tenant")
        params["tenant"] = tenant_id
    if status is not None:
        clauses.append("status = :status")
        params["status"] = status.value
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
