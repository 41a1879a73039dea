"""`admittance serve` as a newcomer runs it: first start prints generated credentials once, they work,
a restart keeps the data, unsafe settings are refused, several workers serve one database."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.support.server import ServerProcess, run_cli

pytestmark = pytest.mark.e2e


def test_first_start_prints_generated_credentials_once_and_they_work(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with ServerProcess(data) as server:
        output = server.output()
        admin = re.search(r"admin user: +t1/admin +password: (\S+)", output)
        boot = re.search(r"bootstrap user: +management/devicebootstrap +password: (\S+)", output)
        assert admin, output
        assert boot, output
        me = httpx.get(f"{server.base_url}/user/currentUser", auth=("t1/admin", admin.group(1)))
        assert me.status_code == 200
        assert me.json()["userName"] == "admin"
        poll = httpx.post(
            f"{server.base_url}/devicecontrol/deviceCredentials",
            json={"id": "nothing"},
            auth=("management/devicebootstrap", boot.group(1)),
        )
        assert poll.status_code == 404
        assert poll.json()["error"] == "devicecontrol/Not Found"
    assert (data / "secret.key").stat().st_mode & 0o777 == 0o600
    with ServerProcess(data) as again:
        assert "password:" not in again.output()
        me = httpx.get(f"{again.base_url}/user/currentUser", auth=("t1/admin", admin.group(1)))
        assert me.status_code == 200


def test_passwords_from_the_environment_are_used_and_not_printed(tmp_path: Path) -> None:
    env = {
        "ADMITTANCE_ADMIN_PASSWORD": "env-Admin-pass-1",
        "ADMITTANCE_BOOTSTRAP_PASSWORD": "env-Boot-pass-1",
        "ADMITTANCE_DEFAULT_TENANT": "acme",
    }
    with ServerProcess(tmp_path / "data", env) as server:
        assert "env-Admin-pass-1" not in server.output()
        assert "env-Boot-pass-1" not in server.output()
        me = httpx.get(f"{server.base_url}/user/currentUser", auth=("acme/admin", "env-Admin-pass-1"))
        assert me.status_code == 200
        # A bare user name belongs to the default tenant.
        assert httpx.get(f"{server.base_url}/user/currentUser", auth=("admin", "env-Admin-pass-1")).status_code == 200


def test_two_workers_serve_one_database(tmp_path: Path) -> None:
    env = {"ADMITTANCE_ADMIN_PASSWORD": "env-Admin-pass-1", "ADMITTANCE_BOOTSTRAP_PASSWORD": "env-Boot-pass-1"}
    with ServerProcess(tmp_path / "data", env, "--workers", "2") as server:
        admin = ("t1/admin", "env-Admin-pass-1")
        with httpx.Client(base_url=server.base_url) as client:
            for n in range(20):  # new connections spread over both worker processes
                created = client.post(
                    "/devicecontrol/newDeviceRequests",
                    json={"id": f"w-{n}"},
                    auth=admin,
                    headers={"Connection": "close"},
                )
                assert created.status_code == 201
            listed = client.get("/devicecontrol/newDeviceRequests?pageSize=100&withTotalElements=true", auth=admin)
        assert listed.json()["statistics"]["totalElements"] == 20


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ADMITTANCE_SECRET_KEY": "changeme"}, "weak"),
        ({"ADMITTANCE_DATABASE_URL": "postgresql://127.0.0.1:1/none"}, "ADMITTANCE_SECRET_KEY must be set"),
        ({"ADMITTANCE_ADMIN_PASSWORD": "admin"}, "weak"),
    ],
)
def test_unsafe_settings_refuse_to_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    result = run_cli("--data-dir", str(tmp_path / "data"), "serve", "--port", "1", env=env)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_config_check_shows_no_secret(tmp_path: Path) -> None:
    key = "k" * 48
    result = run_cli(
        "--data-dir",
        str(tmp_path),
        "config",
        "check",
        env={"ADMITTANCE_SECRET_KEY": key, "ADMITTANCE_BOOTSTRAP_PASSWORD": "boot-Secret-99"},
    )
    assert result.returncode == 0, result.stderr
    assert key not in result.stdout
    assert "boot-Secret-99" not in result.stdout
