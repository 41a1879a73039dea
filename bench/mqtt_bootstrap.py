"""The MQTT bootstrap listener benchmark (docs/decisions/0013): bootstrap handshakes per second
(CONNECT, SUBSCRIBE s/dcr, PUBLISH s/ucr, the 70 answer, DISCONNECT) at a given concurrency, and the
server's resident memory per idle bootstrapping connection (connected and subscribed), for
Admittance's own listener and, as the reference, amqtt 0.12.1's broker with an answering plugin.

The server runs in its own process; the poll answers at once, so this measures the MQTT side only.
`python bench/mqtt_bootstrap.py [--amqtt-python PATH] [--handshakes N] [--idle N]`"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from admittance.mqtt import packets

HERE = Path(__file__).resolve().parent


async def serve_admittance(port: int) -> None:
    from admittance.mqtt.answers import DeviceCredentials
    from admittance.mqtt.listener import BootstrapListener

    answer = DeviceCredentials("t100", "device_bench", "Benchmark0123456789")

    async def poll(*, client_id: str, username: str, password: str, source: str) -> DeviceCredentials:
        return answer

    await BootstrapListener(poll).start("127.0.0.1", port)
    print("listening", flush=True)
    await asyncio.Event().wait()


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    first = await reader.readexactly(1)
    length, multiplier = 0, 1
    while True:
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    return first + await reader.readexactly(length)


async def _connect_and_subscribe(port: int, client_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(packets.connect(client_id, "management/devicebootstrap", "bench-Secret", keepalive=600))
    if (await _read_packet(reader))[2] != 0:
        raise RuntimeError("CONNACK refused")
    writer.write(packets.subscribe(1, "s/dcr"))
    await _read_packet(reader)
    return reader, writer


async def _handshake(port: int, client_id: str) -> None:
    reader, writer = await _connect_and_subscribe(port, client_id)
    writer.write(packets.publish("s/ucr", b""))
    answer = await _read_packet(reader)
    if answer[0] >> 4 != packets.PUBLISH or b"70," not in answer:
        raise RuntimeError(f"not a bootstrap answer: {answer!r}")
    writer.write(bytes([packets.DISCONNECT << 4, 0]))
    writer.close()
    await writer.wait_closed()


async def handshakes(port: int, total: int, concurrency: int) -> float:
    counter = iter(range(total))

    async def worker() -> None:
        for index in counter:
            await _handshake(port, f"bench-{index}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def idle_memory(port: int, pid: int, count: int) -> tuple[float, int]:
    before = rss_kib(pid)
    held = [await _connect_and_subscribe(port, f"idle-{index}") for index in range(count)]
    await asyncio.sleep(1.0)
    after = rss_kib(pid)
    for _, writer in held:
        writer.close()
    return (after - before) * 1024 / count, after


def start_server(command: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not listen: {process.stdout.read() if process.stdout else ''!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(name: str, command: list[str], env: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    process = start_server([*command, str(port)], port, env)
    try:
        idle_rss = rss_kib(process.pid)
        asyncio.run(handshakes(port, 200, args.concurrency))  # warm-up
        rates = [asyncio.run(handshakes(port, args.handshakes, args.concurrency)) for _ in range(args.runs)]
        per_connection, loaded_rss = asyncio.run(idle_memory(port, process.pid, args.idle))
    finally:
        process.kill()
        process.wait()
    return {
        "server": name,
        "handshakes_per_second": [round(rate) for rate in rates],
        "concurrency": args.concurrency,
        "idle_connections": args.idle,
        "bytes_per_idle_connection": round(per_connection),
        "rss_kib_at_start": idle_rss,
        "rss_kib_with_idle_connections": loaded_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--amqtt-python", help="a python with amqtt 0.12.1 installed (the reference)")
    parser.add_argument("--handshakes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--serve-admittance", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_admittance:
        asyncio.run(serve_admittance(args.serve_admittance))
        return
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    results = [measure("admittance", [sys.executable, __file__, "--serve-admittance"], env, args)]
    if args.amqtt_python:
        results.append(measure("amqtt 0.12.1", [args.amqtt_python, str(HERE / "mqtt_bootstrap_amqtt.py")], env, args))
    text = json.dumps({"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count(), "results": results}, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
