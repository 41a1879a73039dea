"""Runs the real c8ydm 1.3.7 bootstrap client (`c8ydm.client.bootstrap_client.Bootstrap`) in its own
process: `python -m tests.support.c8ydm_bootstrap <agent folder> <serial>`, the folder holding its
agent.ini. Its two modules are loaded from the installed package by path, because the package's
`__init__` pulls in the whole agent, which needs Debian's python3-apt; the bootstrap needs neither."""

from __future__ import annotations

import configparser
import importlib.util
import logging
import subprocess
import sys
from pathlib import Path
from types import ModuleType


def _load(name: str, relative: str) -> ModuleType:
    spec = importlib.util.find_spec("c8ydm")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("c8ydm is not installed (requirements/test.lock has it)")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def write_agent_ini(folder: Path, port: int, tenant: str, user: str, password: str) -> None:
    config = configparser.ConfigParser()
    config["mqtt"] = {"url": "127.0.0.1", "port": str(port), "tls": "false", "ping.interval.seconds": "60"}
    config["secret"] = {
        "c8y.bootstrap.tenant": tenant,
        "c8y.bootstrap.user": user,
        "c8y.bootstrap.password": password,
    }
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "agent.ini").open("w") as out:
        config.write(out)


def stored_credentials(folder: Path) -> tuple[str, str, str] | None:
    config = configparser.ConfigParser(interpolation=None)
    config.read(folder / "agent.ini")
    secret = config["secret"] if config.has_section("secret") else {}
    values = (secret.get("c8y.tenant"), secret.get("c8y.username"), secret.get("c8y.password"))
    if any(value is None for value in values):
        return None
    return (str(values[0]), str(values[1]), str(values[2]))


def start(folder: Path, serial: str) -> subprocess.Popen[bytes]:
    with (folder / "bootstrap.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.c8ydm_bootstrap", str(folder), serial],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parents[2],
        )


def main() -> None:
    folder, serial = Path(sys.argv[1]), sys.argv[2]
    logging.basicConfig(level=logging.DEBUG)
    configutils = _load("c8ydm_configutils", "utils/configutils.py")
    bootstrap_client = _load("c8ydm_bootstrap_client", "client/bootstrap_client.py")
    configuration = configutils.Configuration(str(folder))
    bootstrap_client.Bootstrap(serial, str(folder), configuration).bootstrap()
    print("bootstrapped", flush=True)


if __name__ == "__main__":
    main()
