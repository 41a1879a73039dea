"""Real MQTT brokers for the suite: Debian's `mosquitto` (with the dynamic-security plugin) and
`rabbitmq-server` (MQTT plugin, HTTP auth backend behind the cache backend), each on free loopback
ports with its own config and data folder, waited for until ready and stopped by pid.

RabbitMQ gets its own epmd on its own port, a node name unique to this process and a private HOME
(Erlang keeps its cookie there), so parallel runs never share a node, a cookie or a port, and
nothing is left running when the broker stops.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.postgres import free_port

DYNSEC_PLUGIN_CANDIDATES = (
    Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so"),
    Path("/usr/lib/mosquitto_dynamic_security.so"),
)
MOSQUITTO = Path("/usr/sbin/mosquitto")
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQ_PLUGINS = ("rabbitmq_mqtt", "rabbitmq_auth_backend_http", "rabbitmq_auth_backend_cache")


def dynsec_plugin() -> Path:
    for candidate in DYNSEC_PLUGIN_CANDIDATES:
        if candidate.exists():
            return candidate
    raise RuntimeError("mosquitto_dynamic_security.so not found: install Debian's mosquitto (scripts/test does it)")


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until something accepts TCP on 127.0.0.1:port; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode} before listening:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"not listening on {port} after {timeout} s:\n{_tail(log)}")


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL to its whole process group if it does not exit in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def process_alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.05)


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class MosquittoBroker:
    """`mosquitto -c <own conf>` on a free loopback port, with the dynamic-security plugin reading
    `dynsec.json` in its own folder. Write that file (`dynsec_path`) before `start()`."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="admittance-mosquitto-"))
        self.port = free_port()
        self.config_path = self.base / "mosquitto.conf"
        self.dynsec_path = self.base / "dynsec.json"
        self.log_path = self.base / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 15.0) -> MosquittoBroker:
        if not self.dynsec_path.exists():
            raise RuntimeError("write the dynamic-security file before starting mosquitto")
        self.config_path.write_text(self._config())
        if os.geteuid() == 0:
            # As root mosquitto drops to the `mosquitto` user, which must read and rewrite dynsec.json.
            account = pwd.getpwnam("mosquitto")
            for path in (self.base, self.dynsec_path, self.config_path):
                os.chown(path, account.pw_uid, account.pw_gid)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                start_new_session=True,
            )
        wait_for_port(self.port, self.process, self.log_path, timeout)
        return self

    def restart(self) -> None:
        stop_process(self.process)
        self.start()

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.base, ignore_errors=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _config(self) -> str:
        return "\n".join(
            [
                "per_listener_settings false",
                "allow_anonymous false",
                f"listener {self.port} 127.0.0.1",
                f"plugin {dynsec_plugin()}",
                f"plugin_opt_config_file {self.dynsec_path}",
                "persistence false",
                "log_dest stdout",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
                "connection_messages true",
                "",
            ]
        )


class RabbitMQBroker:
    """`rabbitmq-server` with MQTT on a free loopback port and every auth decision asked of
    `auth_base` (the HTTP backend's four paths `/user`, `/vhost`, `/resource`, `/topic` under it),
    behind the cache backend. Anonymous (`guest`) MQTT logins are off."""

    def __init__(self, auth_base: str, *, http_method: str = "get", cache_ttl_ms: int = 0) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="admittance-rabbitmq-"))
        self.auth_base = auth_base.rstrip("/")
        self.http_method = http_method
        self.cache_ttl_ms = cache_ttl_ms
        self.mqtt_port = free_port()
        self.amqp_port = free_port()
        self.epmd_port = free_port()
        self.dist_port = free_port()
        self.node = f"admittance-{os.getpid()}-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = self.base / "rabbitmq.log"
        self.epmd_log_path = self.base / "epmd.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.epmd: subprocess.Popen[bytes] | None = None
        self.beam_pid: int | None = None  # beam.smp, from RABBITMQ_PID_FILE

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def start(self, timeout: float = 90.0) -> RabbitMQBroker:
        if not RABBITMQ_SERVER.exists():
            raise RuntimeError("rabbitmq-server not found: install Debian's rabbitmq-server (scripts/test does it)")
        (self.base / "home").mkdir(exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(self.config())
        (self.base / "enabled_plugins").write_text(f"[{','.join(RABBITMQ_PLUGINS)}].\n")
        (self.base / "rabbitmq-env.conf").write_text("")  # never read /etc/rabbitmq/rabbitmq-env.conf
        env = self._env()
        with self.epmd_log_path.open("ab") as log:
            self.epmd = subprocess.Popen(
                ["epmd", "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_for_port(self.epmd_port, self.epmd, self.epmd_log_path, 10)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.base,
                start_new_session=True,
            )
        try:
            wait_for_port(self.mqtt_port, self.process, self.log_path, timeout)
            self._wait_for_log("Server startup complete", timeout)
            self.beam_pid = int((self.base / "rabbitmq.pid").read_text().strip())
        except (RuntimeError, OSError, ValueError):
            self.stop(keep_files=True)
            raise
        return self

    def stop(self, *, keep_files: bool = False) -> None:
        # The script traps SIGTERM and stops the Erlang VM (beam.smp and its erl_child_setup) cleanly;
        # should the VM outlive it, it is killed by the pid it wrote.
        stop_process(self.process, timeout=30)
        if self.beam_pid is not None and process_alive(self.beam_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.beam_pid, signal.SIGKILL)
            _wait_gone(self.beam_pid, 10)
        stop_process(self.epmd)
        if not keep_files:
            shutil.rmtree(self.base, ignore_errors=True)

    def processes_left(self) -> list[int]:
        """Pids of this broker's script, VM and epmd still alive (none after `stop`)."""
        pids = [self.pid, self.beam_pid, None if self.epmd is None else self.epmd.pid]
        return [pid for pid in pids if pid is not None and process_alive(pid)]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def config(self) -> str:
        """The rabbitmq.conf of this broker: also what docs/operations/rabbitmq.md tells operators to copy."""
        return "\n".join(
            [
                f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
                f"mqtt.listeners.tcp.default = 127.0.0.1:{self.mqtt_port}",
                "mqtt.allow_anonymous = false",
                "mqtt.vhost = /",
                "mqtt.exchange = amq.topic",
                "auth_backends.1 = cache",
                "auth_cache.cached_backend = http",
                f"auth_cache.cache_ttl = {self.cache_ttl_ms}",
                f"auth_http.http_method = {self.http_method}",
                f"auth_http.user_path = {self.auth_base}/user",
                f"auth_http.vhost_path = {self.auth_base}/vhost",
                f"auth_http.resource_path = {self.auth_base}/resource",
                f"auth_http.topic_path = {self.auth_base}/topic",
                "loopback_users = none",
                "log.console = true",
                "log.console.level = info",
                "log.file = false",
                "",
            ]
        )

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env.update(
            {
                "HOME": str(self.base / "home"),
                "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
                "RABBITMQ_NODENAME": self.node,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
                "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.base / "log"),
                "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
                "RABBITMQ_PID_FILE": str(self.base / "rabbitmq.pid"),
                "RABBITMQ_LOGS": "-",
            }
        )
        return env

    def _wait_for_log(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.log():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"rabbitmq-server never logged {line!r}:\n{_tail(self.log_path)}")
