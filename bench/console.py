"""Console benchmark: how fast the admin console's pages answer with 100,000 registration requests,
on SQLite and on PostgreSQL, against a real `admittance serve` process.

Per database: seed the requests straight into the database (spread over 14 days and four statuses),
sign in through the console's forms, then time sequential requests of each page. The same-session
reference is `GET /health` on the same server (one trivial query through the same HTTP stack), so the
figures are ratios that survive a slower or faster machine. Targets:
- paging stays fast: the 50th page (keyset) answers within 2x of the first page's median;
- every page's median is at most 40x the reference median (a page is a few indexed queries and a
  template; the reference is one).

    .venv/bin/python bench/console.py [--requests 100000] [--databases sqlite postgresql] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from pollbench.seeding import PostgresRows, SqliteRows  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402
from tests.support.server import ServerProcess  # noqa: E402

ADMIN_PASSWORD = "bench-Admin-Secret-1"
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
TENANT = "t1"
STATUSES = ("WAITING_FOR_CONNECTION", "PENDING_ACCEPTANCE", "ACCEPTED", "BLOCKED")
DEEP_PAGE = 50
_NEXT = re.compile(r'href="([^"]+)" rel="next"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def rows(count: int) -> Iterator[tuple[Any, ...]]:
    """`count` requests, created over the last 14 days, in four statuses (most of them pending)."""
    now_ms = int(time.time() * 1000)
    span = 14 * 86_400_000
    for index in range(count):
        status = STATUSES[1] if index % 10 < 7 else STATUSES[(index % 10) % 4]
        created = now_ms - span + (span * index) // count
        yield (f"bench-{index:07d}", TENANT, status, "admin", None, None, "{}", None, None, 0, created, created)


def signed_in(base_url: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    form = client.get("/console/sign-in")
    token = _CSRF.search(form.text)
    assert token, "no sign-in form"
    answer = client.post(
        "/console/sign-in",
        data={"csrf_token": token.group(1), "username": "admin", "password": ADMIN_PASSWORD, "next": "/console/"},
    )
    assert answer.status_code == 303, answer.text[:300]
    return client


def deep_page_url(client: httpx.Client, start: str, pages: int) -> str:
    """The URL of the `pages`-th page, found by following the "Next" links (keyset cursors)."""
    url = start
    for _ in range(pages - 1):
        found = _NEXT.search(client.get(url).text)
        assert found, f"no next page after {url}"
        url = found.group(1).replace("&amp;", "&")
    return url


def timed(client: httpx.Client, url: str, repeat: int, headers: dict[str, str] | None = None) -> dict[str, float]:
    for _ in range(3):
        client.get(url, headers=headers)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(url, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, f"{url}: {answer.status_code}"
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(len(times) * 0.95) - 1]}


def measure(database: str, count: int, repeat: int, work: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    url = ""
    if database == "postgresql":
        postgres = PostgresServer()
        postgres.start()
        stack.callback(postgres.stop)
        import psycopg

        with psycopg.connect(postgres.admin_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE console_bench")
        url = postgres.url("console_bench")
    env = {
        "ADMITTANCE_DATABASE_URL": url,
        "ADMITTANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "ADMITTANCE_BOOTSTRAP_PASSWORD": ADMIN_PASSWORD + "-bootstrap",
        "ADMITTANCE_SECRET_KEY": SECRET_KEY,
        "ADMITTANCE_CONSOLE_INSECURE_COOKIES": "true",  # httpx sends Secure cookies only over HTTPS
        "ADMITTANCE_WORKER": "false",
    }
    server = stack.enter_context(ServerProcess(work / database, env))
    store = PostgresRows(url) if url else SqliteRows(work / database / "admittance.sqlite3")
    started = time.perf_counter()
    store.fill(rows(count))
    seeded = time.perf_counter() - started
    assert sum(store.count_by_status().values()) == count
    client = signed_in(server.base_url)
    stack.callback(client.close)
    base = "/console/registrations"
    pages = {
        "reference: GET /health": ("/health", None),
        "dashboard (counts, 14-day chart)": ("/console/", None),
        "registrations, first page": (base, None),
        f"registrations, page {DEEP_PAGE} (keyset)": (deep_page_url(client, base, DEEP_PAGE), None),
        "registrations, status BLOCKED": (f"{base}?status=BLOCKED", None),
        "registrations, search by id prefix": (f"{base}?q=bench-00777", None),
        "live refresh of the queue": (f"{base}/rows", {"X-Console-Background": "1"}),
    }
    results = {name: timed(client, path, repeat, headers) for name, (path, headers) in pages.items()}
    reference = results["reference: GET /health"]["median_ms"]
    for figures in results.values():
        figures["ratio_to_reference"] = figures["median_ms"] / reference
    first = results["registrations, first page"]["median_ms"]
    deep = results[f"registrations, page {DEEP_PAGE} (keyset)"]["median_ms"]
    checks = {
        f"page {DEEP_PAGE} within 2x of the first page": deep <= 2 * first,
        "every page's median at most 40x the reference": all(
            figures["ratio_to_reference"] <= 40 for figures in results.values()
        ),
    }
    return {"requests": count, "seed_seconds": round(seeded, 1), "pages": results, "checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="console-bench-") as folder, contextlib.ExitStack() as stack:
        for database in args.databases:
            report[database] = measure(database, args.requests, args.repeat, Path(folder), stack)
            seconds = report[database]["seed_seconds"]
            print(f"\n{database}: {args.requests:,} registration requests (seeded in {seconds} s)")
            print(f"  {'page':44} {'median ms':>10} {'p95 ms':>8} {'x ref':>7}")
            for name, figures in report[database]["pages"].items():
                median, p95, ratio = figures["median_ms"], figures["p95_ms"], figures["ratio_to_reference"]
                print(f"  {name:44} {median:10.1f} {p95:8.1f} {ratio:7.1f}")
            for check, passed in report[database]["checks"].items():
                print(f"  {'PASS' if passed else 'FAIL'}  {check}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(all(r["checks"].values()) for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
