"""A real `admittance serve` process for end-to-end tests: free port, temp data folder, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support import secrets
from tests.support.postgres import free_port


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *args: str, https: bool = False) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.https = https  # the server terminates TLS (ADMITTANCE_TLS...): health is polled without verification
        self.base_url = f"{'https' if https else 'http'}://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"serve-{self.port}.log"
        self._env = {k: v for k, v in os.environ.items() if not k.startswith("ADMITTANCE_")}
        self._env.update(env or {})
        self._args = args
        self.process: subprocess.Popen[bytes] | None = None
        self._output_handed_over = False

    def start(self, timeout: float = 30.0) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "admittance",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            *self._args,
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, env=self._env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"admittance serve exited with {self.process.returncode}:\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=1, verify=not self.https).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"admittance serve did not become healthy:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._hand_over_output()
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self._hand_over_output()

    def _hand_over_output(self) -> None:
        """The server's log goes to the end-of-session check for leaked secrets (tests/support/secrets.py)."""
        if self.process is not None and not self._output_handed_over:
            self._output_handed_over = True
            secrets.add_output(f"server on port {self.port}", self.output())

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


Start = Callable[[str], ServerProcess]  # the e2e `start` fixture: a database URL in, a started server out


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ADMITTANCE_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "admittance", *args], env=clean, capture_output=True, text=True, timeout=120, check=False
    )
