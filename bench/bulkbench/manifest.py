"""The manifests: a realistic full Cumulocity manifest for the server, and the same devices in the
baseline's eight-column shape for the reference.

Full manifest (tab separated, like go-c8y's bulk registration example, plus SHELL):
`ID AUTH_TYPE CREDENTIALS NAME TYPE IDTYPE ICCID PATH com_cumulocity_model_Agent.active SHELL`.
Passwords are random, 24-32 characters of letters, digits and a few symbols, each one checked
against the server's own "random enough" rule so that it is stored on the keyed hash at once.
PATH spreads the devices over GROUPS x SUBGROUPS groups in two levels.
"""

from __future__ import annotations

import csv
import io
import random
import string
from dataclasses import dataclass

from admittance.kernel.secrets import is_random_enough

FULL_COLUMNS = (
    "ID",
    "AUTH_TYPE",
    "CREDENTIALS",
    "NAME",
    "TYPE",
    "IDTYPE",
    "ICCID",
    "PATH",
    "com_cumulocity_model_Agent.active",
    "SHELL",
)
REFERENCE_COLUMNS = ("ID", "CREDENTIALS", "TYPE", "NAME", "ICCID", "IDTYPE", "PATH", "SHELL")  # baseline section 6
SYMBOLS = "!#%*._~^"  # none of them a CSV separator, a quote or a formula start
PASSWORD_ALPHABET = string.ascii_letters + string.digits + SYMBOLS
TYPES = ("c8y_Linux", "thin-edge.io", "c8y_MQTTDevice", "c8y_Gateway")
GROUPS = 6  # top-level groups ...
SUBGROUPS = 6  # ... with this many subgroups each: 6 + 36 = 42 groups
DEVICE_PREFIX = "bulk-"


@dataclass(frozen=True)
class Device:
    device_id: str
    password: str
    name: str
    type: str
    iccid: str
    path: str
    shell: str

    @property
    def username(self) -> str:
        return f"device_{self.device_id}"


def password(rng: random.Random) -> str:
    while True:
        candidate = "".join(rng.choice(PASSWORD_ALPHABET) for _ in range(rng.randint(24, 32)))
        if is_random_enough(candidate):
            return candidate


def devices(rows: int, seed: int) -> list[Device]:
    rng = random.Random(seed)
    found = []
    for index in range(1, rows + 1):
        group = rng.randrange(GROUPS)
        found.append(
            Device(
                device_id=f"{DEVICE_PREFIX}{index:07d}",
                password=password(rng),
                name=f"Bulk sensor {index:07d}",
                type=rng.choice(TYPES),
                iccid="8949" + "".join(rng.choice(string.digits) for _ in range(16)),
                path=f"Plant {chr(ord('A') + group)}/Line {group + 1}.{rng.randrange(SUBGROUPS) + 1}",
                shell=rng.choice("01"),
            )
        )
    return found


def group_count() -> int:
    return GROUPS + GROUPS * SUBGROUPS


def _csv(header: tuple[str, ...], rows: list[tuple[str, ...]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def full_manifest(found: list[Device]) -> bytes:
    """What the server imports: tab separated, UTF-8, every row a BASIC device with its password."""
    return _csv(
        FULL_COLUMNS,
        [
            (d.device_id, "BASIC", d.password, d.name, d.type, "c8y_Serial", d.iccid, d.path, "true", d.shell)
            for d in found
        ],
        "\t",
    )


def reference_manifest(found: list[Device]) -> bytes:
    """The same devices in the baseline's shape (`ID;CREDENTIALS;TYPE;NAME;ICCID;IDTYPE;PATH;SHELL`)."""
    return _csv(
        REFERENCE_COLUMNS,
        [(d.device_id, d.password, d.type, d.name, d.iccid, "c8y_Serial", d.path, d.shell) for d in found],
        ";",
    )
