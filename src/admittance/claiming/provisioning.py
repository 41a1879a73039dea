"""Provisioning (nRF Cloud Provisioning Service): per-device command queues, rules by tag, and the
device-facing protocol (docs/compat/nrfcloud/provisioning.md)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from admittance.audit import AuditEvent, AuditTag
from admittance.claiming import device_protocol as wire
from admittance.claiming.model import normalize_tags
from admittance.claiming.provisioning_model import (
    MAX_COMMANDS_PER_DEVICE,
    MAX_RULE_COMMANDS,
    OPEN_STATUSES,
    ClaimedDeviceRef,
    CommandStatus,
    CommandType,
    ProvisioningCommand,
    ProvisioningRule,
    RuleState,
    validate_description,
    validate_request,
)
from admittance.claiming.service import device_not_found, sees_restricted
from admittance.claiming.store import ProvisioningTransaction
from admittance.kernel.clock import Clock
from admittance.kernel.errors import AdmittanceError, Conflict, InvalidInput, NotFound, PermissionDenied
from admittance.kernel.principal import Principal
from admittance.kernel.storage import Storage
from admittance.pki.issuing import CertificateIssuer
from admittance.pki.model import IssuedCertificate, IssuedVia

log = logging.getLogger(__name__)

MAX_FETCH_LIMIT = MAX_COMMANDS_PER_DEVICE
DEFAULT_JWT_MAX_SECONDS = 604800


def _actor(principal: Principal) -> str:
    return f"{principal.tenant_id}/{principal.username}"


class ProvisioningService:
    def __init__(
        self,
        storage: Storage[ProvisioningTransaction],
        certificates: CertificateIssuer,
        clock: Clock,
        *,
        jwt_max_seconds: int = DEFAULT_JWT_MAX_SECONDS,
    ) -> None:
        self._storage = storage
        self._certificates = certificates
        self._clock = clock
        self._jwt_max_seconds = jwt_max_seconds

    # --- helpers -----------------------------------------------------------------------------------

    async def _visible_device(
        self, tx: ProvisioningTransaction, principal: Principal, device_id: str
    ) -> ClaimedDeviceRef:
        device = await tx.provisioning.device(device_id.strip().lower())
        if (
            device is None
            or device.tenant_id != principal.tenant_id
            or (device.restricted and not sees_restricted(principal))
        ):
            raise device_not_found(device_id)
        return device

    async def _audit(
        self,
        tx: ProvisioningTransaction,
        tag: AuditTag,
        tenant_id: str,
        actor: str,
        subject: str,
        detail: dict[str, Any],
    ) -> None:
        await tx.audit.record(AuditEvent(tag, tenant_id, actor, subject, self._clock.now(), detail))

    async def _append(
        self,
        tx: ProvisioningTransaction,
        device: ClaimedDeviceRef,
        request: dict[str, Any],
        description: str,
        rule_id: str | None,
        *,
        position: int | None = None,
    ) -> ProvisioningCommand:
        now = self._clock.now()
        if position is None:
            position = await tx.provisioning.max_position(device.id) + 1
        command = ProvisioningCommand(
            id=str(uuid.uuid4()),
            device_id=device.id,
            tenant_id=device.tenant_id,
            position=position,
            description=description,
            request=request,
            response=None,
            status=CommandStatus.PENDING,
            rule_id=rule_id,
            created_at=now,
            updated_at=now,
        )
        await tx.provisioning.insert_command(command)
        return command

    # --- per-device commands -------------------------------------------------------------------------

    async def create_command(self, principal: Principal, device_id: str, body: object) -> ProvisioningCommand:
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object {description?, request}", entity="provisioning command")
        extra = sorted(set(body) - {"description", "request"})
        if extra:
            raise InvalidInput(f"Unknown fields: {', '.join(extra)}", entity="provisioning command")
        request = validate_request(body.get("request"))
        description = validate_description(body.get("description"))
        async with self._storage.transaction() as tx:
            device = await self._visible_device(tx, principal, device_id)
            if await tx.provisioning.open_count(device.id) >= MAX_COMMANDS_PER_DEVICE:
                raise InvalidInput(
                    f"A device holds at most {MAX_COMMANDS_PER_DEVICE} pending or in-progress provisioning commands",
                    entity="provisioning command",
                )
            command = await self._append(tx, device, request, description, None)
            await self._audit(
                tx,
                AuditTag.PROVISIONING_COMMAND_CREATED,
                device.tenant_id,
                _actor(principal),
                device.id,
                {"command": command.id, "type": command.type.value},
            )
            return command

    async def list_commands(self, principal: Principal, device_id: str) -> list[ProvisioningCommand]:
        async with self._storage.read() as tx:
            device = await self._visible_device(tx, principal, device_id)
            return await tx.provisioning.commands(device.id)

    async def get_command(self, principal: Principal, device_id: str, command_id: str) -> ProvisioningCommand:
        async with self._storage.read() as tx:
            device = await self._visible_device(tx, principal, device_id)
            command = await tx.provisioning.command(device.id, command_id)
            if command is None:
                raise NotFound("No provisioning command with this id for this device", entity="provisioning command")
            return command

    async def cancel_command(self, principal: Principal, device_id: str, command_id: str) -> ProvisioningCommand:
        """Discard a PENDING command: it stays in the list as CANCELLED and is never delivered."""
        async with self._storage.transaction() as tx:
            device = await self._visible_device(tx, principal, device_id)
            command = await tx.provisioning.command(device.id, command_id)
            if command is None:
                raise NotFound("No provisioning command with this id for this device", entity="provisioning command")
            if command.status != CommandStatus.PENDING:
                raise Conflict(f"Only a PENDING command can be cancelled; this one is {command.status.value}")
            await tx.provisioning.update_command(
                command.id, CommandStatus.CANCELLED, command.response, self._clock.now()
            )
            await self._audit(
                tx,
                AuditTag.PROVISIONING_COMMAND_CANCELLED,
                device.tenant_id,
                _actor(principal),
                device.id,
                {"commands": [command.id]},
            )
            updated = await tx.provisioning.command(device.id, command.id)
            assert updated is not None
            return updated

    async def cancel_pending(self, principal: Principal, device_id: str) -> int:
        """Cancel every PENDING command of the device; the number cancelled."""
        async with self._storage.transaction() as tx:
            device = await self._visible_device(tx, principal, device_id)
            pending = [c for c in await tx.provisioning.commands(device.id) if c.status == CommandStatus.PENDING]
            now = self._clock.now()
            for command in pending:
                await tx.provisioning.update_command(command.id, CommandStatus.CANCELLED, command.response, now)
            if pending:
                await self._audit(
                    tx,
                    AuditTag.PROVISIONING_COMMAND_CANCELLED,
                    device.tenant_id,
                    _actor(principal),
                    device.id,
                    {"commands": [c.id for c in pending]},
                )
            return len(pending)

    # --- rules -----------------------------------------------------------------------------------------

    @staticmethod
    def _rule_fields(body: object, *, partial_of: ProvisioningRule | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise InvalidInput("The body must be a JSON object", entity="provisioning rule")
        extra = sorted(set(body) - {"name", "description", "active", "commands", "tags", "signCsr", "id", "state"})
        if extra:
            raise InvalidInput(f"Unknown fields: {', '.join(extra)}", entity="provisioning rule")
        base = partial_of
        name = body.get("name", base.name if base else None)
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise InvalidInput("name must be a non-empty string of at most 200 characters", field="name")
        description = validate_description(body.get("description"), base.description if base else "")
        raw_commands = body.get("commands", base.commands if base else None)
        if not isinstance(raw_commands, list) or not 1 <= len(raw_commands) <= MAX_RULE_COMMANDS:
            raise InvalidInput(f"commands must be a list of 1 to {MAX_RULE_COMMANDS} commands", field="commands")
        commands: list[dict[str, Any]] = []
        for item in raw_commands:
            if not isinstance(item, dict) or set(item) - {"request", "description"}:
                raise InvalidInput("every command is an object {request, description?}", field="commands")
            entry: dict[str, Any] = {"request": validate_request(item.get("request"))}
            if item.get("description") is not None:
                entry["description"] = validate_description(item.get("description"))
            commands.append(entry)
        tags = list(normalize_tags(body.get("tags", base.tags if base else None)))
        if not tags:
            raise InvalidInput("tags must name at least one tag", field="tags")
        active = body.get("active", False)
        if not isinstance(active, bool):
            raise InvalidInput("active must be true or false", field="active")
        sign_csr = body.get("signCsr", base.sign_csr if base else False)
        if not isinstance(sign_csr, bool):
            raise InvalidInput("signCsr must be true or false", field="signCsr")
        return {
            "name": name.strip(),
            "description": description,
            "commands": commands,
            "tags": tags,
            "active": active,
            "sign_csr": sign_csr,
        }

    async def create_rule(self, principal: Principal, body: object) -> ProvisioningRule:
        fields = self._rule_fields(body)
        now = self._clock.now()
        rule = ProvisioningRule(
            id=str(uuid.uuid4()),
            tenant_id=principal.tenant_id,
            name=fields["name"],
            description=fields["description"],
            state=RuleState.DRAFT,
            commands=fields["commands"],
            tags=fields["tags"],
            sign_csr=fields["sign_csr"],
            created_at=now,
            updated_at=now,
        )
        async with self._storage.transaction() as tx:
            await tx.provisioning.insert_rule(rule)
            await self._audit(
                tx,
                AuditTag.PROVISIONING_RULE_CREATED,
                rule.tenant_id,
                _actor(principal),
                rule.id,
                {"name": rule.name, "tags": rule.tags},
            )
            if fields["active"]:
                rule = await self._activate(tx, principal, rule)
            return rule

    async def list_rules(self, principal: Principal) -> list[ProvisioningRule]:
        async with self._storage.read() as tx:
            return await tx.provisioning.rules(principal.tenant_id)

    async def _rule(self, tx: ProvisioningTransaction, principal: Principal, rule_id: str) -> ProvisioningRule:
        rule = await tx.provisioning.rule(principal.tenant_id, rule_id)
        if rule is None:
            raise NotFound("No provisioning rule with this id", entity="provisioning rule")
        return rule

    async def get_rule(self, principal: Principal, rule_id: str) -> ProvisioningRule:
        async with self._storage.read() as tx:
            return await self._rule(tx, principal, rule_id)

    async def update_rule(self, principal: Principal, rule_id: str, body: object) -> ProvisioningRule:
        async with self._storage.transaction() as tx:
            rule = await self._rule(tx, principal, rule_id)
            if rule.state == RuleState.ACTIVE:
                raise Conflict("The provisioning rule is active and can no longer be changed")
            fields = self._rule_fields(body, partial_of=rule)
            updated = ProvisioningRule(
                id=rule.id,
                tenant_id=rule.tenant_id,
                name=fields["name"],
                description=fields["description"],
                state=RuleState.DRAFT,
                commands=fields["commands"],
                tags=fields["tags"],
                sign_csr=fields["sign_csr"],
                created_at=rule.created_at,
                updated_at=self._clock.now(),
            )
            await tx.provisioning.update_rule(updated)
            await self._audit(
                tx,
                AuditTag.PROVISIONING_RULE_UPDATED,
                rule.tenant_id,
                _actor(principal),
                rule.id,
                {"name": updated.name, "tags": updated.tags},
            )
            if fields["active"]:
                updated = await self._activate(tx, principal, updated)
            return updated

    async def activate_rule(self, principal: Principal, rule_id: str) -> ProvisioningRule:
        async with self._storage.transaction() as tx:
            rule = await self._rule(tx, principal, rule_id)
            if rule.state == RuleState.ACTIVE:
                return rule
            return await self._activate(tx, principal, rule)

    async def _activate(
        self, tx: ProvisioningTransaction, principal: Principal, rule: ProvisioningRule
    ) -> ProvisioningRule:
        active = ProvisioningRule(
            id=rule.id,
            tenant_id=rule.tenant_id,
            name=rule.name,
            description=rule.description,
            state=RuleState.ACTIVE,
            commands=rule.commands,
            tags=rule.tags,
            sign_csr=rule.sign_csr,
            created_at=rule.created_at,
            updated_at=self._clock.now(),
        )
        await tx.provisioning.update_rule(active)
        applied = []
        for device_id in await tx.provisioning.devices_with_tags(rule.tenant_id, rule.tags):
            device = await tx.provisioning.device(device_id)
            if device is not None and await self._apply_rule(tx, active, device):
                applied.append(device_id)
        await self._audit(
            tx,
            AuditTag.PROVISIONING_RULE_ACTIVATED,
            rule.tenant_id,
            _actor(principal),
            rule.id,
            {"name": rule.name, "appliedTo": applied},
        )
        return active

    async def delete_rule(self, principal: Principal, rule_id: str) -> None:
        """Delete a rule (draft or active); commands it already queued stay."""
        async with self._storage.transaction() as tx:
            rule = await self._rule(tx, principal, rule_id)
            await tx.provisioning.delete_rule(rule.tenant_id, rule.id)
            await self._audit(
                tx, AuditTag.PROVISIONING_RULE_DELETED, rule.tenant_id, _actor(principal), rule.id, {"name": rule.name}
            )

    async def _apply_rule(self, tx: ProvisioningTransaction, rule: ProvisioningRule, device: ClaimedDeviceRef) -> bool:
        """Queue the rule's commands on the device, once per device; False when skipped."""
        if await tx.provisioning.has_rule_commands(device.id, rule.id):
            return False
        if await tx.provisioning.open_count(device.id) + len(rule.commands) > MAX_COMMANDS_PER_DEVICE:
            log.warning("provisioning rule %s not applied to %s: its queue would exceed the limit", rule.id, device.id)
            await self._audit(
                tx,
                AuditTag.PROVISIONING_RULE_APPLIED,
                device.tenant_id,
                "system",
                device.id,
                {"rule": rule.id, "skipped": f"the queue would exceed {MAX_COMMANDS_PER_DEVICE} commands"},
            )
            return False
        queued = []
        for entry in rule.commands:
            command = await self._append(
                tx, device, entry["request"], entry.get("description") or f"Rule: {rule.name}", rule.id
            )
            queued.append(command.id)
        await self._audit(
            tx,
            AuditTag.PROVISIONING_RULE_APPLIED,
            device.tenant_id,
            "system",
            device.id,
            {"rule": rule.id, "commands": queued},
        )
        return True

    async def on_device_tags_in(
        self, tx: ProvisioningTransaction, tenant_id: str, device_id: str, tags: Sequence[str]
    ) -> None:
        """After a claim or a tag change (in the caller's transaction): queue the commands of every
        ACTIVE rule of the tenant with a tag in `tags` (each rule once per device)."""
        wanted = set(tags)
        if not wanted:
            return
        device = await tx.provisioning.device(device_id)
        if device is None or device.tenant_id != tenant_id:
            return
        for rule in await tx.provisioning.active_rules(tenant_id):
            if wanted.intersection(rule.tags):
                await self._apply_rule(tx, rule, device)

    # --- the device protocol -----------------------------------------------------------------------

    async def _device_of_jwt(self, tx: ProvisioningTransaction, token: str) -> ClaimedDeviceRef:
        jwt = wire.parse_device_jwt(token)
        device = await tx.provisioning.device(jwt.device_id)
        if device is None:
            raise PermissionDenied("The device is not claimed")
        if device.identity_key_pem is None:
            raise PermissionDenied(
                "The device was claimed without a registered identity key and cannot use the device protocol"
            )
        wire.check_device_jwt(jwt, device.identity_key_pem, int(self._clock.now().timestamp()), self._jwt_max_seconds)
        if device.status == "BLOCKED":
            raise PermissionDenied("The device is blocked")
        return device

    async def fetch_commands(
        self, token: str, *, after: str | None, limit: int | None, rx_max_size: int | None
    ) -> bytes | None:
        """The CBOR command array for the device (None: nothing to do, 204); delivered commands move
        to IN_PROGRESS. A CSR command of a rule that signs CSRs ends the batch (its certificate is
        queued right after it once the device answers)."""
        count = MAX_FETCH_LIMIT if limit is None else max(1, min(limit, MAX_FETCH_LIMIT))
        async with self._storage.transaction() as tx:
            device = await self._device_of_jwt(tx, token)
            commands = await tx.provisioning.commands(device.id)
            start = 0
            if after:
                for index, command in enumerate(commands):
                    if command.id == after.removesuffix(wire.IDENTITY_SUFFIX):
                        start = index + 1
                        break
            entries: list[list[Any]] = []
            chosen: list[ProvisioningCommand] = []
            signing_rules = {r.id for r in await tx.provisioning.active_rules(device.tenant_id) if r.sign_csr}
            for command in commands[start:]:
                if command.status not in OPEN_STATUSES:
                    continue
                more = wire.wire_commands(command)
                if chosen and rx_max_size and len(wire.encode_commands(entries + more)) > rx_max_size:
                    break
                entries.extend(more)
                chosen.append(command)
                if len(chosen) >= count:
                    break
                if command.type == CommandType.CERTIFICATE_SIGNING_REQUEST and command.rule_id in signing_rules:
                    break
            if not chosen:
                return None
            now = self._clock.now()
            delivered = [c.id for c in chosen if c.status == CommandStatus.PENDING]
            for command in chosen:
                if command.status == CommandStatus.PENDING:
                    await tx.provisioning.update_command(command.id, CommandStatus.IN_PROGRESS, None, now)
            if delivered:
                await self._audit(
                    tx,
                    AuditTag.PROVISIONING_COMMAND_DELIVERED,
                    device.tenant_id,
                    device.id,
                    device.id,
                    {"commands": delivered},
                )
            return wire.encode_commands(entries)

    async def post_responses(self, token: str, body: bytes) -> None:
        responses = wire.decode_responses(body)
        async with self._storage.transaction() as tx:
            device = await self._device_of_jwt(tx, token)
            answered: dict[str, str] = {}
            for response in responses:
                status = await self._answer(tx, device, response)
                if status is not None:
                    answered[response.correlation_id] = status
            if answered:
                await self._audit(
                    tx,
                    AuditTag.PROVISIONING_COMMAND_ANSWERED,
                    device.tenant_id,
                    device.id,
                    device.id,
                    {"commands": answered},
                )

    async def _answer(
        self, tx: ProvisioningTransaction, device: ClaimedDeviceRef, response: wire.DeviceResponse
    ) -> str | None:
        identity_write = response.correlation_id.endswith(wire.IDENTITY_SUFFIX)
        command_id = response.correlation_id.removesuffix(wire.IDENTITY_SUFFIX)
        command = await tx.provisioning.command(device.id, command_id)
        if command is None or command.status not in OPEN_STATUSES:
            log.info("device %s answered an unknown or closed command", device.id)
            return None
        now = self._clock.now()
        kind = command.type
        if response.kind == wire.ERROR:
            body: dict[str, Any] = {"error": {"cmeError": response.cme_error, "message": response.message}}
            await tx.provisioning.update_command(command.id, CommandStatus.FAILED, body, now)
            return CommandStatus.FAILED.value
        if identity_write:
            return None  # the PSK identity was written; the key's answer settles the command
        expected = {CommandType.CONFIG: wire.CONFIG_ACK, CommandType.FINISHED: wire.FINISHED_ACK}.get(
            kind, wire.AT_RESPONSE
        )
        if response.kind != expected:
            body = {"error": {"cmeError": None, "message": f"unexpected response type {response.kind}"}}
            await tx.provisioning.update_command(command.id, CommandStatus.FAILED, body, now)
            return CommandStatus.FAILED.value
        result: dict[str, Any] = {}
        if response.kind == wire.AT_RESPONSE:
            result["message"] = response.message
            if kind == CommandType.CERTIFICATE_SIGNING_REQUEST:
                result["csr"] = wire.keygen_output(response.message)
            elif kind in (CommandType.CLIENT_PRIVATE_KEY_GENERATION, CommandType.CLOUD_ACCESS_KEY_GENERATION):
                result["publicKey"] = wire.keygen_output(response.message)
        body = {kind.value: result}
        if kind == CommandType.CERTIFICATE_SIGNING_REQUEST and command.rule_id is not None:
            signing = await self._sign_csr(tx, device, command, result["csr"])
            if signing is not None:
                body["signing"] = signing
        await tx.provisioning.update_command(command.id, CommandStatus.SUCCEEDED, body, now)
        return CommandStatus.SUCCEEDED.value

    async def _sign_csr(
        self, tx: ProvisioningTransaction, device: ClaimedDeviceRef, command: ProvisioningCommand, keygen: str
    ) -> dict[str, Any] | None:
        """When the command's rule signs CSRs: issue a certificate (CN = the device UUID) and queue
        a clientCertificate command right after the CSR command. What happened, for the response."""
        assert command.rule_id is not None
        rule = await tx.provisioning.rule(device.tenant_id, command.rule_id)
        if rule is None or not rule.sign_csr:
            return None
        try:
            csr = wire.csr_of_keygen(keygen)
            issued: IssuedCertificate = await self._certificates.issue_in(
                tx,
                csr,
                tenant_id=device.tenant_id,
                owner=device.id,
                common_name=device.id,
                issued_via=IssuedVia.NRF_PROVISIONING.value,
                actor=f"{device.tenant_id}/{device.id}",
            )
        except AdmittanceError as exc:
            log.info("CSR of device %s not signed: %s", device.id, exc)
            return {"error": str(exc)}
        await tx.provisioning.shift_positions(device.id, command.position)
        certificate = await self._append(
            tx,
            device,
            {
                CommandType.CLIENT_CERTIFICATE.value: {
                    "secTag": command.fields["secTag"],
                    "content": issued.certificate_pem,
                }
            },
            f"Client certificate signed by Admittance (rule {rule.name})",
            rule.id,
            position=command.position + 1,
        )
        return {"serial": issued.serial, "commandId": certificate.id}


__all__ = ["ProvisioningService"]
