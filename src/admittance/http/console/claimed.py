"""Console pages: claimed devices (nRF Cloud-compatible claiming) and their tag definitions.

Every page and form stands for the /v1 request it mirrors (`needs`), calls the claiming and
provisioning services with the signed-in principal, and so sees and changes exactly what the API
would: admin-claimed devices stay hidden from editors and viewers, every change is audited."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from admittance.claiming.model import DeviceFilter, DeviceStatus, TagKind
from admittance.claiming.provisioning_model import CommandStatus
from admittance.claiming.token import device_type_label
from admittance.http.console.core import PREFIX, Console, ConsoleError, Page, page
from admittance.http.paging import decode_after, encode_after
from admittance.kernel.errors import InvalidInput, MalformedInput

BASE = PREFIX + "/claimed"
PAGE_SIZE = 50
MAX_TOKEN_CHARS = 8192
API = "/v1/claimed-devices"
TAGS_API = API + "/tags"


def _device_url(device_id: str) -> str:
    return f"{BASE}/{device_id}"


def _tags_of(text: str) -> list[str]:
    """The tags of a comma-separated text field (the service checks each one)."""
    return [text] if text.strip() else []


def routes(console: Console) -> list[BaseRoute]:
    @page(console, needs=("GET", API))
    async def list_devices(current: Page) -> Response:
        tag = current.query("tag")
        status_text = current.query("status").upper()
        status = None
        if status_text:
            try:
                status = DeviceStatus(status_text)
            except ValueError:
                raise ConsoleError(400, "The status filter must be READY or BLOCKED.") from None
        after_text = current.query("after")
        try:
            after = decode_after(after_text) if after_text else None
        except MalformedInput:
            raise ConsoleError(400, "That page link is not valid any more; start again from the first page.") from None
        filters = DeviceFilter(tags=(tag,) if tag else (), status=status)
        found = await current.services.claiming.list_devices(current.principal, filters, after, PAGE_SIZE)
        can_tags = current.can("GET", TAGS_API)
        tags = await current.services.claiming.list_tags(current.principal, TagKind.CLAIMED) if can_tags else []
        keep = {key: value for key, value in (("tag", tag), ("status", status_text)) if value}
        next_url = None
        if found.next_after is not None:
            next_url = f"{BASE}?{urlencode({**keep, 'after': encode_after(found.next_after)})}"
        first_url = f"{BASE}?{urlencode(keep)}" if after is not None else None
        return current.render(
            "claimed.html",
            title="Claimed devices",
            devices=[(device, device_type_label(device.device_type)) for device in found.items],
            total=found.total,
            tag=tag,
            status_filter=status_text,
            tags=tags,
            filtered=bool(keep),
            next_url=next_url,
            first_url=first_url,
            can_claim=current.can("POST", API),
            can_tags=can_tags,
        )

    @page(console, needs=("POST", API))
    async def claim(current: Page) -> Response:
        token = current.field("claim_token")
        if not token:
            raise InvalidInput("Paste the device's attestation (claim) token.")
        if len(token) > MAX_TOKEN_CHARS:
            raise InvalidInput("That is too long for a claim token.")
        token = "".join(token.split())  # pasted across lines
        device = await current.services.claiming.claim(current.principal, token, _tags_of(current.field("tags")))
        return current.redirect(_device_url(device.id), f"Device {device.id} claimed.")

    async def _device_page(current: Page) -> Response:
        device_id = current.request.path_params["device_id"]
        device = await current.services.claiming.get_device(current.principal, device_id)
        commands_api = f"{API}/{device.id}/provisioning"
        commands = []
        if current.can("GET", commands_api):
            commands = await current.services.provisioning.list_commands(current.principal, device.id)
        tags = []
        if current.can("GET", TAGS_API):
            tags = await current.services.claiming.list_tags(current.principal, TagKind.CLAIMED)
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

    @page(console)
    async def device_page(current: Page) -> Response:
        _device_id(current, "GET")
        return await _device_page(current)

    def _device_id(current: Page, method: str, suffix: str = "") -> str:
        """The device of the form's URL, once the user may make the API request it stands for."""
        device_id = str(current.request.path_params["device_id"])
        current.require(method, f"{API}/{device_id}{suffix}")
        return device_id

    @page(console)
    async def set_tags(current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/tags")
        wanted = _tags_of(current.field("tags"))
        device = await current.services.claiming.set_tags(current.principal, device_id, wanted)
        return current.redirect(_device_url(device.id), "Tags saved.")

    @page(console)
    async def block(current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/block")
        device = await current.services.claiming.set_blocked(current.principal, device_id, blocked=True)
        return current.redirect(_device_url(device.id), f"Device {device.id} is blocked: it gets no commands.")

    @page(console)
    async def unblock(current: Page) -> Response:
        device_id = _device_id(current, "PUT", "/unblock")
        device = await current.services.claiming.set_blocked(current.principal, device_id, blocked=False)
        return current.redirect(_device_url(device.id), f"Device {device.id} is unblocked.")

    @page(console)
    async def unclaim(current: Page) -> Response:
        device_id = _device_id(current, "DELETE")
        await current.services.claiming.unclaim(current.principal, device_id)
        return current.redirect(BASE, f"Device {device_id} was unclaimed; it can be claimed again.")

    @page(console)
    async def cancel_command(current: Page) -> Response:
        device_id = str(current.request.path_params["device_id"])
        command_id = str(current.request.path_params["command_id"])
        current.require("DELETE", f"{API}/{device_id}/provisioning/{command_id}")
        await current.services.provisioning.cancel_command(current.principal, device_id, command_id)
        return current.redirect(_device_url(device_id), "The command was cancelled.")

    # --- tag definitions -------------------------------------------------------------------------

    @page(console, needs=("GET", TAGS_API))
    async def tags_page(current: Page) -> Response:
        tags = await current.services.claiming.list_tags(current.principal, TagKind.CLAIMED)
        return current.render(
            "tags.html",
            title="Device tags",
            tags=tags,
            can_create=current.can("POST", TAGS_API),
            can_edit=current.can("PUT", TAGS_API + "/x"),
            can_delete=current.can("DELETE", TAGS_API + "/x"),
        )

    @page(console, needs=("POST", TAGS_API))
    async def create_tag(current: Page) -> Response:
        tag = await current.services.claiming.create_tag(
            current.principal, TagKind.CLAIMED, current.field("tag"), current.field("description")
        )
        return current.redirect(BASE + "/tags", f"Tag {tag.tag} created.")

    @page(console)
    async def describe_tag(current: Page) -> Response:
        tag_id = str(current.request.path_params["tag_id"])
        current.require("PUT", f"{TAGS_API}/{tag_id}")
        tag = await current.services.claiming.update_tag(
            current.principal, TagKind.CLAIMED, tag_id, {"description": current.field("description")}
        )
        return current.redirect(BASE + "/tags", f"The description of {tag.tag} was saved.")

    @page(console)
    async def delete_tag(current: Page) -> Response:
        tag_id = str(current.request.path_params["tag_id"])
        current.require("DELETE", f"{TAGS_API}/{tag_id}")
        tag = await current.services.claiming.get_tag(current.principal, TagKind.CLAIMED, tag_id)
        await current.services.claiming.delete_tag(current.principal, TagKind.CLAIMED, tag_id)
        return current.redirect(BASE + "/tags", f"Tag {tag.tag} deleted (and removed from its devices).")

    device = BASE + "/{device_id}"
    return [
        Route(BASE, list_devices, methods=["GET"]),
        Route(BASE + "/claim", claim, methods=["POST"]),
        Route(BASE + "/tags", tags_page, methods=["GET"]),
        Route(BASE + "/tags", create_tag, methods=["POST"]),
        Route(BASE + "/tags/{tag_id}/describe", describe_tag, methods=["POST"]),
        Route(BASE + "/tags/{tag_id}/delete", delete_tag, methods=["POST"]),
        Route(device, device_page, methods=["GET"]),
        Route(device + "/tags", set_tags, methods=["POST"]),
        Route(device + "/block", block, methods=["POST"]),
        Route(device + "/unblock", unblock, methods=["POST"]),
        Route(device + "/unclaim", unclaim, methods=["POST"]),
        Route(device + "/commands/{command_id}/cancel", cancel_command, methods=["POST"]),
    ]
