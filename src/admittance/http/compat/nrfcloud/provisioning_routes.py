"""Provisioning commands and rules on /v1 (docs/compat/nrfcloud/provisioning.md):
/v1/claimed-devices/{id}/provisioning[/{commandId}] and /v1/provisioning-rules[/{id}[/activate]]."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from admittance.claiming.provisioning import ProvisioningService
from admittance.http.body import read_json_object
from admittance.http.compat.nrfcloud.representations import command_json, rule_json
from admittance.http.params import path_text
from admittance.http.responses import json_response, no_content
from admittance.http.surface import Row, guarded
from admittance.kernel.principal import Principal

COMMANDS = "/v1/claimed-devices/{device_id}/provisioning"
RULES = "/v1/provisioning-rules"


def routes(provisioning: Provisioning) -> list[Row]:
    return [
        guarded("POST", COMMANDS, provisioning.create_command),
        guarded("GET", COMMANDS, provisioning.list_commands),
        guarded("DELETE", COMMANDS, provisioning.cancel_pending),
        guarded("GET", COMMANDS + "/{command_id}", provisioning.get_command),
        guarded("DELETE", COMMANDS + "/{command_id}", provisioning.cancel_command),
        guarded("POST", RULES, provisioning.create_rule),
        guarded("GET", RULES, provisioning.list_rules),
        guarded("GET", RULES + "/{rule_id}", provisioning.get_rule),
        guarded("PUT", RULES + "/{rule_id}", provisioning.update_rule),
        guarded("DELETE", RULES + "/{rule_id}", provisioning.delete_rule),
        guarded("POST", RULES + "/{rule_id}/activate", provisioning.activate_rule),
    ]


class Provisioning:
    def __init__(self, provisioning: ProvisioningService, max_body_bytes: int) -> None:
        self._provisioning = provisioning
        self._max_body_bytes = max_body_bytes

    async def create_command(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        command = await self._provisioning.create_command(principal, path_text(request, "device_id"), body)
        return json_response(command_json(command), 201)

    async def list_commands(self, request: Request, principal: Principal) -> Response:
        commands = await self._provisioning.list_commands(principal, path_text(request, "device_id"))
        return json_response({"items": [command_json(c) for c in commands], "total": len(commands)})

    async def cancel_pending(self, request: Request, principal: Principal) -> Response:
        await self._provisioning.cancel_pending(principal, path_text(request, "device_id"))
        return no_content()

    async def get_command(self, request: Request, principal: Principal) -> Response:
        command = await self._provisioning.get_command(
            principal, path_text(request, "device_id"), path_text(request, "command_id")
        )
        return json_response(command_json(command))

    async def cancel_command(self, request: Request, principal: Principal) -> Response:
        device_id, command_id = path_text(request, "device_id"), path_text(request, "command_id")
        await self._provisioning.cancel_command(principal, device_id, command_id)
        return no_content()

    async def create_rule(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        return json_response(rule_json(await self._provisioning.create_rule(principal, body)), 201)

    async def list_rules(self, _request: Request, principal: Principal) -> Response:
        rules = await self._provisioning.list_rules(principal)
        return json_response({"items": [rule_json(r) for r in rules], "total": len(rules)})

    async def get_rule(self, request: Request, principal: Principal) -> Response:
        return json_response(rule_json(await self._provisioning.get_rule(principal, path_text(request, "rule_id"))))

    async def update_rule(self, request: Request, principal: Principal) -> Response:
        body = await read_json_object(request, self._max_body_bytes)
        rule = await self._provisioning.update_rule(principal, path_text(request, "rule_id"), body)
        return json_response(rule_json(rule))

    async def delete_rule(self, request: Request, principal: Principal) -> Response:
        await self._provisioning.delete_rule(principal, path_text(request, "rule_id"))
        return no_content()

    async def activate_rule(self, request: Request, principal: Principal) -> Response:
        return json_response(
            rule_json(await self._provisioning.activate_rule(principal, path_text(request, "rule_id")))
        )
