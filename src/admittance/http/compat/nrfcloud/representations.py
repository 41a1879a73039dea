"""Our claiming objects in nRF Cloud's JSON shapes, and the nRF Cloud query parameters that choose
them. Vendor field names live here and in the route modules' bodies, nowhere else."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from admittance.claiming.bulk import ACCESS_OPTION, ENDPOINT
from admittance.claiming.model import ClaimedDevice, DeviceFilter, DeviceStatus, Tag
from admittance.claiming.provisioning_model import ProvisioningCommand, ProvisioningRule, RuleState
from admittance.claiming.token import DEVICE_TYPE_NAMES, device_type_label
from admittance.http.params import query, query_number, query_values, whole_number
from admittance.http.times import utc_millis
from admittance.jobs.model import Job
from admittance.kernel.errors import InvalidInput

BULK_OPS_PREFIX = "/v1/bulk-ops-requests"
DEFAULT_PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
MAX_DEVICE_TYPE = 2**31 - 1  # a stored device type is a 32-bit integer


def device_json(device: ClaimedDevice) -> dict[str, Any]:
    return {
        "id": device.id,
        "deviceType": device_type_label(device.device_type),
        "firmwareId": device.firmware_id,
        "imei": device.imei or "",
        "ownerId": device.tenant_id,
        "ownershipStatus": device.ownership_status,
        "tags": list(device.tags),
        "status": device.status.value,
        "claimedAt": utc_millis(device.claimed_at),
    }


def tag_json(tag: Tag) -> dict[str, Any]:
    return {"id": tag.id, "tag": tag.tag, "description": tag.description, "createdAt": utc_millis(tag.created_at)}


def command_json(command: ProvisioningCommand) -> dict[str, Any]:
    return {
        "id": command.id,
        "deviceId": command.device_id,
        "status": command.status.value,
        "description": command.description,
        "request": command.request,
        "response": command.response,
        "ruleId": command.rule_id,
        "createdAt": utc_millis(command.created_at),
        "updatedAt": utc_millis(command.updated_at),
    }


def rule_json(rule: ProvisioningRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": rule.name,
        "description": rule.description,
        "active": rule.state == RuleState.ACTIVE,
        "state": rule.state.value,
        "commands": rule.commands,
        "tags": rule.tags,
        "signCsr": rule.sign_csr,
        "createdAt": utc_millis(rule.created_at),
        "updatedAt": utc_millis(rule.updated_at),
    }


def bulk_ops_json(job: Job, base: str) -> dict[str, str]:
    """Every value is a string: the nRF Cloud client concatenates them."""
    access = str(job.options.get(ACCESS_OPTION, ""))
    link = f"{base}{BULK_OPS_PREFIX}/{job.id}"
    return {
        "bulkOpsRequestId": job.id,
        "status": job.status.value,
        "endpoint": ENDPOINT,
        "requestedAt": utc_millis(job.created_at),
        "completedAt": utc_millis(job.finished_at) if job.finished_at is not None else "",
        # The upload is kept until the job ends (claim tokens are credentials; every job's input goes then).
        "uploadedDataUrl": "" if job.status.finished else f"{link}/data/{access}",
        "errorSummaryUrl": f"{link}/errors/{access}" if job.failed_count or job.error else "",
    }


def page_limit(request: Request) -> int:
    limit = query_number(request, "pageLimit", low=1, high=MAX_PAGE_LIMIT, refuse=_bad_page_limit, strict=True)
    return DEFAULT_PAGE_LIMIT if limit is None else limit


def _bad_page_limit(_value: str) -> InvalidInput:
    return InvalidInput(f"pageLimit must be a number from 1 to {MAX_PAGE_LIMIT}")


def device_filter(request: Request) -> DeviceFilter:
    tags: list[str] = []
    for value in query_values(request, "tags", "tag"):
        tags.extend(part.strip() for part in value.split(",") if part.strip())
    status = None
    status_text = query(request, "status")
    if status_text is not None:
        try:
            status = DeviceStatus(status_text.upper())
        except ValueError:
            raise InvalidInput("status must be READY or BLOCKED") from None
    device_type_text = query(request, "deviceType")
    device_type = device_type_number(device_type_text) if device_type_text is not None else None
    return DeviceFilter(tags=tuple(tags), status=status, device_type=device_type)


def device_type_number(value: str) -> int:
    number = whole_number(value, 0, MAX_DEVICE_TYPE)
    if number is not None:
        return number
    for number in DEVICE_TYPE_NAMES:
        if device_type_label(number).lower() == value.lower():
            return number
    raise InvalidInput(f"Unknown deviceType {value}")
