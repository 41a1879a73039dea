"""Console pages: claimed devices (nRF Cloud-compatible claiming) and their tag definitions.

Every page and form stands for the /v1 request it mirrors (`needs`), calls the claiming and
provisioning services with the signed-in principal, and so sees and changes exactly what the API
would: admin-claimed devices stay hidden from editors and viewers, every change is audited."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from admittance.claiming.model import DeviceFilter, DeviceStatus, TagKind
from admittance.claiming.provisioning import ProvisioningService
from admittance.claiming.provisioning_model import CommandStatus
from admittance.claiming.service import ClaimingService
from admittance.claiming.token import device_type_label
from admittance.http.console.core import PREFIX, ConsoleError
from admittance.http.console.page import Page, PageRoute
from admittance.http.paging import decode_after, encode_after
from admittance.kernel.errors import InvalidInput, MalformedInput

BASE = PREFIX + "/claimed"
TAGS = BASE + "/tags"
PAGE_SIZE = 50
MAX_TOKEN_CHARS = 8192
API = "/v1/claimed-devices"
TAGS_API = API + "/tags"


def routes(devices: ClaimedPages, tags: TagPages) -> list[PageRoute]:
    # The tags first: "/claimed/tags" is not a device.
    device = BASE + "/{device_id}"
    return [
        PageRoute("GET", BASE, devices.list_devices, needs=("GET", API)),
        PageRoute("POST", BASE + "/claim", devices.claim, needs=("POST", API)),
        PageRoute("GET", TAGS, tags.tags_page, needs=("GET", TAGS_API)),
        PageRoute("POST", TAGS, tags.create_tag, needs=("POST", TAGS_API)),
        PageRoute("POST", TAGS + "/{tag_id}/describe", tags.describe_tag),
        PageRoute("POST", TAGS + "/{tag_id}/delete", tags.delete_tag),
        PageRoute("GET", device, devices.device_page),
        PageRoute("POST", device + "/tags", devices.set_tags),
        PageRoute("POST", device + "/block", devices.block),
        PageRoute("POST", device + "/unblock", devices.unblock),
        PageRoute("POST", device + "/unclaim", devices.unclaim),
        PageRoute("POST", device + "/commands/{command_id}/cancel", devices.cancel_command),
    ]


def _device_url(device_id: str) -> str:
    return f"{BASE}/{device_id}"


def _tags_of(text: str) -> list[str]:
    """The tags of a comma-separated text field (the service checks each one)."""
    return [text] if text.strip() else []


def _device_id(current: Page, method: str, suffix: str = "") -> str:
    """The device of the form's URL, once the user may make the API request it stands for."""
    device_id = current.path_param("device_id")
    current.require(method, f"{API}/{device_id}{suffix}")
    return device_id


def _status(current: Page) -> DeviceStatus | None:
    text = current.query("status").upper()
    try:
        return DeviceStatus(text) if text else None
    except ValueError:
        raise ConsoleError(400, "The status filter must be READY or BLOCKED.") from None


def _after(current: Page) -> tuple[int, str] | None:
    text = current.query("after")
    try:
        return decode_after(text) if text else None
    except MalformedInput:
        raise ConsoleError(400, "That page link is not valid any more; start again from the first page.") from None


class ClaimedPages:
    """The claimed devices: listed, claimed, a device's page (its provisioning commands) and forms."""

    def __init__(self, claiming: ClaimingService, provisioning: ProvisioningService) -> None:
        self._claiming = claiming
        self._provisioning = provisioning

    async def list_devices(self, current: Page) -> Response:
        tag = current.query("tag")
        status = _status(current)
        after = _after(current)
        filters = DeviceFilter(tags=(tag,) if tag else (), status=status)
        found = await self._claiming.list_devices(current.principal, filters, after, PAGE_SIZE)
        can_tags = current.can("GET", TAGS_API)
        tags = await self._claiming.list_tags(current.principal, TagKind.CLAIMED) if can_tags else []
        keep = {key: value for key, value in (("tag", tag), ("status", status.value if status else "")) if value}
        next_url = None
        if found.next_after is not None:
            next_url = f"{BASE}?{urlencode({**keep, 'after': encode_after(found.next_after)})}"
        return current.render(
            "claimed.html",
            title="Claimed devices",
            devices=[(device, device_type_label(device.device_type)) for device in found.items],
            total=found.total,
            tag=tag,
            status_filter=status.value if status else "",
            tags=tags,
            filtered=bool(keep),
            next_url=next_url,
            first_url=f"{BASE}?{urlencode(keep)}" if after is not None else None,
            can_claim=current.can("POST", API),
            can_tags=can_tags,
        )

    async def claim(self, current: Page) -> Response:
        token = current.field("claim_token")
        if not token:
            raise InvalidInput("Paste the device's attestation (claim) token.")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidInput("That is too long for a claim token.")
        token = "".join(token.split())  # pasted across lines
        device = await self._claiming.claim(current.principal, token, _tags_of(current.field("tags")))
        return current.redirect(_device_url(device.id), f"Device {device.id} claimed.")

    async def device_page(self, current: Page) -> Response:
        device = await self._claiming.get_device(current.principal, _device_id(current, "GET"))
        commands_api = f"{API}/{device.id}/provisioning"
        commands = []
        if current.can("GET", commands_api):
            commands = await self._provisioning.list_commands(current.principal, device.id)
        tags = []
        if current.can("GET", TAGS_API):
            tags = await self._claiming.list_tags(current.principal, TagKind.CLAIMED)
        return current.render(
            "claimed_detail.html",
            title=f"Claimed device {device.id}",
            device=device,
            device_type=device_type_label(device.device_type),
            commands=commands,
            open_statuses=(CommandStatus.PENDING.value, CommandStatus.IN_PROGRESS.value),
            known_tags=[item.tag for item in tags],
            can_tags=current.can("PUT", f"{API}/{device.id}/tags"),
            can_block=current.can("PUT", f"{API}/{device.id}/block"),
            can_unclaim=current.can("DELETE", f"{API}/{device.id}"),
            can_cancel=current.can("DELETE", f"{commands_api}/x"),
            can_inventory=current.can("GET", f"/inventory/managedObjects/{device.managed_object_id}"),
        )

    async def set_tags(self, current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/tags")
        device = await self._claiming.set_tags(current.principal, device_id, _tags_of(current.field("tags")))
        return current.redirect(_device_url(device.id), "Tags saved.")

    async def block(self, current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/block")
        device = await self._claiming.set_blocked(current.principal, device_id, blocked=True)
        return current.redirect(_device_url(device.id), f"Device {device.id} is blocked: it gets no commands.")

    async def unblock(self, current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/unblock")
        device = await self._claiming.set_blocked(current.principal, device_id, blocked=False)
        return current.redirect(_device_url(device.id), f"Device {device.id} is unblocked.")

    async def unclaim(self, current: Page) -> Response:
        device_id = _device_id(current, "DELETE")
        await self._claiming.unclaim(current.principal, device_id)
        return current.redirect(BASE, f"Device {device_id} was unclaimed; it can be claimed again.")

    async def cancel_command(self, current: Page) -> Response:
        device_id = current.path_param("device_id")
        command_id = current.path_param("command_id")
        current.require("DELETE", f"{API}/{device_id}/provisioning/{command_id}")
        await self._provisioning.cancel_command(current.principal, device_id, command_id)
        return current.redirect(_device_url(device_id), "The command was cancelled.")


class TagPages:
    """The tag definitions of claimed devices, through the claiming service."""

    def __init__(self, claiming: ClaimingService) -> None:
        self._claiming = claiming

    async def tags_page(self, current: Page) -> Response:
        tags = await self._claiming.list_tags(current.principal, TagKind.CLAIMED)
        return current.render(
            "tags.html",
            title="Device tags",
            tags=tags,
            can_create=current.can("POST", TAGS_API),
            can_edit=current.can("PUT", TAGS_API + "/x"),
            can_delete=current.can("DELETE", TAGS_API + "/x"),
        )

    async def create_tag(self, current: Page) -> Response:
        tag = await self._claiming.create_tag(
            current.principal, TagKind.CLAIMED, current.field("tag"), current.field("description")
        )
        return current.redirect(TAGS, f"Tag {tag.tag} created.")

    async def describe_tag(self, current: Page) -> Response:
        tag_id = current.path_param("tag_id")
        current.require("PUT", f"{TAGS_API}/{tag_id}")
        tag = await self._claiming.update_tag(
            current.principal, TagKind.CLAIMED, tag_id, {"description": current.field("description")}
        )
        return current.redirect(TAGS, f"The description of {tag.tag} was saved.")

    async def delete_tag(self, current: Page) -> Response:
        tag_id = current.path_param("tag_id")
        current.require("DELETE", f"{TAGS_API}/{tag_id}")
        tag = await self._claiming.get_tag(current.principal, TagKind.CLAIMED, tag_id)
        await self._claiming.delete_tag(current.principal, TagKind.CLAIMED, tag_id)
        return current.redirect(TAGS, f"Tag {tag.tag} deleted (and removed from its devices).")
