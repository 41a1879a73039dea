"""Provisioning commands and rules in SQL (tables provisioning_commands, provisioning_rules; reads
claimed_devices and claimed_device_tags)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from admittance.claiming.provisioning_model import (
    OPEN_STATUSES,
    ClaimedDeviceRef,
    CommandStatus,
    ProvisioningCommand,
    ProvisioningRule,
    RuleState,
)
from admittance.kernel.clock import from_millis, to_millis
from admittance.storage.database import Executor, Row

_COMMAND_COLUMNS = (
    "id, device_id, tenant_id, position, description, request, response, status, rule_id, created_at, updated_at"
)
_RULE_COLUMNS = "id, tenant_id, name, description, state, commands, tags, sign_csr, created_at, updated_at"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _command(row: Row) -> ProvisioningCommand:
    return ProvisioningCommand(
        id=row["id"],
        device_id=row["device_id"],
        tenant_id=row["tenant_id"],
        position=row["position"],
        description=row["description"],
        request=orjson.loads(row["request"]),
        response=orjson.loads(row["response"]) if row["response"] is not None else None,
        status=CommandStatus(row["status"]),
        rule_id=row["rule_id"],
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
    )


def _rule(row: Row) -> ProvisioningRule:
    return ProvisioningRule(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        description=row["description"],
        state=RuleState(row["state"]),
        commands=orjson.loads(row["commands"]),
        tags=orjson.loads(row["tags"]),
        sign_csr=bool(row["sign_csr"]),
        created_at=from_millis(row["created_at"]),
        updated_at=from_millis(row["updated_at"]),
    )


def _rule_params(rule: ProvisioningRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "tenant": rule.tenant_id,
        "name": rule.name,
        "description": rule.description,
        "state": rule.state.value,
        "commands": _json(rule.commands),
        "tags": _json(rule.tags),
        "sign_csr": rule.sign_csr,
        "created": to_millis(rule.created_at),
        "updated": to_millis(rule.updated_at),
    }


class SqlProvisioningStore:
    def __init__(self, executor: Executor) -> None:
        self._db = executor

    async def device(self, device_id: str) -> ClaimedDeviceRef | None:
        row = await self._db.fetch_one(
            "SELECT id, tenant_id, status, restricted, identity_key_pem FROM claimed_devices WHERE id = :id",
            {"id": device_id},
        )
        if row is None:
            return None
        return ClaimedDeviceRef(
            id=row["id"],
            tenant_id=row["tenant_id"],
            status=row["status"],
            restricted=bool(row["restricted"]),
            identity_key_pem=row["identity_key_pem"],
        )

    async def devices_with_tags(self, tenant_id: str, tags: Sequence[str]) -> list[str]:
        if not tags:
            return []
        names = {f"t{index}": tag for index, tag in enumerate(tags)}
        placeholders = ", ".join(f":{name}" for name in names)
        rows = await self._db.fetch_all(
            "SELECT DISTINCT d.id FROM claimed_devices d JOIN claimed_device_tags t ON t.device_id = d.id "
            f"WHERE d.tenant_id = :tenant AND t.tag IN ({placeholders}) ORDER BY d.id",
            {"tenant": tenant_id, **names},
        )
        return [row["id"] for row in rows]

    async def open_count(self, device_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) AS n FROM provisioning_commands WHERE device_id = :device AND status IN (:a, :b)",
            {"device": device_id, "a": OPEN_STATUSES[0].value, "b": OPEN_STATUSES[1].value},
        )
        return int(row["n"]) if row is not None else 0

    async def max_position(self, device_id: str) -> int:
        row = await self._db.fetch_one(
            "SELECT MAX(position) AS p FROM provisioning_commands WHERE device_id = :device", {"device": device_id}
        )
        return int(row["p"]) if row is not None and row["p"] is not None else 0

    async def insert_command(self, command: ProvisioningCommand) -> None:
        await self._db.execute(
            f"INSERT INTO provisioning_commands ({_COMMAND_COLUMNS}) VALUES (:id, :device, :tenant, :position, "
            ":description, :request, :response, :status, :rule, :created, :updated)",
            {
                "id": command.id,
                "device": command.device_id,
                "tenant": command.tenant_id,
                "position": command.position,
                "description": command.description,
                "request": _json(command.request),
                "response": _json(command.response) if command.response is not None else None,
                "status": command.status.value,
                "rule": command.rule_id,
                "created": to_millis(command.created_at),
                "updated": to_millis(command.updated_at),
            },
        )

    async def commands(self, device_id: str) -> list[ProvisioningCommand]:
        rows = await self._db.fetch_all(
            f"SELECT {_COMMAND_COLUMNS} FROM provisioning_commands WHERE device_id = :device "
            "ORDER BY position, created_at, id",
            {"device": device_id},
        )
        return [_command(row) for row in rows]

    async def command(self, device_id: str, command_id: str) -> ProvisioningCommand | None:
        row = await self._db.fetch_one(
            f"SELECT {_COMMAND_COLUMNS} FROM provisioning_commands WHERE device_id = :device AND id = :id",
            {"device": device_id, "id": command_id},
        )
        return _command(row) if row is not None else None

    async def update_command(
        self, command_id: str, status: CommandStatus, response: Mapping[str, Any] | None, now: datetime
    ) -> None:
        await self._db.execute(
            "UPDATE provisioning_commands SET status = :status, response = :response, updated_at = :now WHERE id = :id",
            {
                "id": command_id,
                "status": status.value,
                "response": _json(response) if response is not None else None,
                "now": to_millis(now),
            },
        )

    async def shift_positions(self, device_id: str, after_position: int) -> None:
        await self._db.execute(
            "UPDATE provisioning_commands SET position = position + 1 WHERE device_id = :device AND position > :p",
            {"device": device_id, "p": after_position},
        )

    async def has_rule_commands(self, device_id: str, rule_id: str) -> bool:
        row = await self._db.fetch_one(
            "SELECT 1 AS one FROM provisioning_commands WHERE device_id = :device AND rule_id = :rule LIMIT 1",
            {"device": device_id, "rule": rule_id},
        )
        return row is not None

    async def delete_command(self, command_id: str) -> None:
        await self._db.execute("DELETE FROM provisioning_commands WHERE id = :id", {"id": command_id})

    async def insert_rule(self, rule: ProvisioningRule) -> None:
        await self._db.execute(
            f"INSERT INTO provisioning_rules ({_RULE_COLUMNS}) VALUES (:id, :tenant, :name, :description, :state, "
            ":commands, :tags, :sign_csr, :created, :updated)",
            _rule_params(rule),
        )

    async def update_rule(self, rule: ProvisioningRule) -> None:
        await self._db.execute(
            "UPDATE provisioning_rules SET name = :name, description = :description, state = :state, "
            "commands = :commands, tags = :tags, sign_csr = :sign_csr, updated_at = :updated "
            "WHERE id = :id AND tenant_id = :tenant",
            {key: value for key, value in _rule_params(rule).items() if key != "created"},
        )

    async def delete_rule(self, tenant_id: str, rule_id: str) -> bool:
        count = await self._db.execute(
            "DELETE FROM provisioning_rules WHERE id = :id AND tenant_id = :tenant",
            {"id": rule_id, "tenant": tenant_id},
        )
        return count > 0

    async def rule(self, tenant_id: str, rule_id: str) -> ProvisioningRule | None:
        row = await self._db.fetch_one(
            f"SELECT {_RULE_COLUMNS} FROM provisioning_rules WHERE id = :id AND tenant_id = :tenant",
            {"id": rule_id, "tenant": tenant_id},
        )
        return _rule(row) if row is not None else None

    async def rules(self, tenant_id: str) -> list[ProvisioningRule]:
        rows = await self._db.fetch_all(
            f"SELECT {_RULE_COLUMNS} FROM provisioning_rules WHERE tenant_id = :tenant ORDER BY created_at, id",
            {"tenant": tenant_id},
        )
        return [_rule(row) for row in rows]

    async def active_rules(self, tenant_id: str) -> list[ProvisioningRule]:
        rows = await self._db.fetch_all(
            f"SELECT {_RULE_COLUMNS} FROM provisioning_rules WHERE tenant_id = :tenant AND state = :state "
            "ORDER BY created_at, id",
            {"tenant": tenant_id, "state": RuleState.ACTIVE.value},
        )
        return [_rule(row) for row in rows]
