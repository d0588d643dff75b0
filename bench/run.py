"""`make bench`: the API against baselines measured in the same run, on the same machine.

wrk drives each target for DURATION seconds at 32 connections, one uvicorn process each, with the
same loop/parser settings. Ratios against the ceilings are what to trust: the machine is shared.
The list's first page is measured twice, at 1 k and at 1 M rows (seeded in SQL, once per run):
its cost must not grow with the table.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from localpg import LocalPostgres, free_port
from psycopg_pool import AsyncConnectionPool

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = Path(sys.executable).parent
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = 32
# The list endpoint's first page is measured at both sizes: its cost must not grow with the table.
SMALL_TABLE, LARGE_TABLE = 1_000, 1_000_000
# uvloop 0.22.1 serves the bare app ~1.4x as fast as asyncio here; 0.23.0 only ~1.1x.
UVLOOP_GAIN = 1.2
UVICORN = ("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning")


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(name: str, url: str) -> Result:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # wrk pads values in seconds with a trailing space.
    percentiles = re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
    lat = {pct: _ms(value, unit) for pct, value, unit in percentiles}
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    # A request wrk gave up on (timeout, reset) is as much a failure as a 5xx answer.
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(failed.group(1)) if failed else 0) + (
        sum(int(n) for n in socket.groups()) if socket else 0
    )
    return Result(name, rps, lat["50"], lat["99"], errors)


def start(
    cmd: list[str], env: dict[str, str], port: int, path: str = "/"
) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code < 500:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{cmd} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


def baseline(app: str, env: dict[str, str], name: str, loop: str = "uvloop") -> Result:
    port = free_port()
    flags = [loop if flag == "uvloop" else flag for flag in UVICORN]
    cmd = [str(SCRIPTS / "uvicorn"), f"bench.apps:{app}", "--port", str(port), *flags]
    process = start(cmd, env, port)
    try:
        wrk(name, f"http://127.0.0.1:{port}/")  # warm-up, discarded
        return wrk(name, f"http://127.0.0.1:{port}/")
    finally:
        stop(process)


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(kb.group(1)) / 1024 if kb else 0.0


async def pool_floor(url: str) -> Result:
    """The DB floor: SELECT 1 through psycopg-pool from 32 tasks, no HTTP at all."""
    latencies: list[float] = []
    async with AsyncConnectionPool(
        url, min_size=10, max_size=10, kwargs={"autocommit": True}
    ) as pool:
        stop_at = time.monotonic() + DURATION

        async def worker() -> None:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                async with pool.connection() as conn:
                    await conn.execute("SELECT 1")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    latencies.sort()
    return Result(
        "raw pool SELECT 1 (no HTTP)",
        len(latencies) / DURATION,
        latencies[len(latencies) // 2] * 1000,
        latencies[int(len(latencies) * 0.99)] * 1000,
        0,
    )


def seed(url: str, rows: int) -> float:
    """Top the items table up to `rows` in one statement; VACUUM ANALYZE as autovacuum would."""
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO items (name) SELECT 'bench-' || n"
            " FROM generate_series((SELECT count(*) FROM items) + 1, %s) AS n",
            (rows,),
        )
        conn.execute("VACUUM ANALYZE items")
    return time.perf_counter() - started


def an_item_id(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM items ORDER BY id OFFSET 7 LIMIT 1").fetchone()
    if row is None:
        raise RuntimeError("the items table was not seeded")
    return int(row[0])


def first_page_at_scale(url: str, first_page: str) -> tuple[Result, float]:
    """Grow the table to LARGE_TABLE rows, then measure the same first page again."""
    seconds = seed(url, LARGE_TABLE)
    wrk("warm-up", first_page)
    return wrk("platform-api GET /api/v1/items 50 @1M rows", first_page), seconds


def print_growth(small: Result, large: Result, seeding: float) -> None:
    growth = large.rps / small.rps
    # wrk reports 0 latency when no request finished inside its timeout.
    p50 = f"{large.p50_ms / small.p50_ms:.2f}x" if large.p50_ms and small.p50_ms else "n/a"
    print(
        f"first page at {LARGE_TABLE:,} vs {SMALL_TABLE:,} rows: req/s {growth:.2f}x, "
        f"p50 {p50} (target: req/s >= 0.9x) {'ok' if growth >= 0.9 else 'MISS'}; "
        f"seeded in {seeding:.1f} s"
    )


def migrate_noop_seconds(env: dict[str, str]) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run(
            [str(SCRIPTS / "platform-migrate"), "upgrade"], env=env, check=True, capture_output=True
        )
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk not found: apt-get install wrk", file=sys.stderr)
        return 2
    pg = LocalPostgres().init()
    try:
        env = {**os.environ, "DATABASE_URL": pg.url, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            [str(SCRIPTS / "platform-migrate"), "upgrade"], env=env, check=True, capture_output=True
        )
        bare = baseline("bare", env, "bare FastAPI hello (ceiling)")
        # The same app on asyncio's own loop: a uvloop that is no faster shows as a MISS
        # (uvloop 0.23.0 was, ADR 0001).
        bare_asyncio = baseline("bare", env, "asyncio loop: bare FastAPI hello", loop="asyncio")
        pooled = baseline("pooled", env, "pooled SELECT 1 endpoint (DB ceiling)")
        floor = asyncio.run(pool_floor(pg.url))
        seed(pg.url, SMALL_TABLE)
        item_id = an_item_id(pg.url)

        port = free_port()
        api = start([str(SCRIPTS / "platform-api")], {**env, "PORT": str(port)}, port, "/db-check")
        try:
            base = f"http://127.0.0.1:{port}"
            first_page = f"{base}/api/v1/items?limit=50"
            idle = rss_mb(api.pid)
            wrk("warm-up", f"{base}/health")
            health = wrk("platform-api /health", f"{base}/health")
            ready = wrk("platform-api /db-check", f"{base}/db-check")
            item = wrk("platform-api GET /api/v1/items/{id}", f"{base}/api/v1/items/{item_id}")
            page = wrk("platform-api GET /api/v1/items 50 @1k rows", first_page)
            loaded = rss_mb(api.pid)
            large_page, seeding = first_page_at_scale(pg.url, first_page)
        finally:
            stop(api)
        noop = migrate_noop_seconds(env)
    finally:
        pg.remove()

    rows = [
        (bare_asyncio, None, None),
        (bare, bare_asyncio, UVLOOP_GAIN),
        (pooled, None, None),
        (floor, None, None),
        (health, bare, 0.95),
        (ready, bare, 0.8),
        (item, pooled, 0.9),
        (page, pooled, None),
        (large_page, pooled, None),
    ]
    print(f"\nwrk {DURATION}s, {CONNECTIONS} connections, one uvicorn process per target\n")
    header = f"| {'target':42} | {'req/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'non-2xx':>7} |"
    print(header + " ratio (target) |")
    print(f"|{'-' * 44}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 9}|----------------|")
    for result, ceiling, target in rows:
        ratio = ""
        if ceiling is not None:
            value = result.rps / ceiling.rps
            ratio = f"{value:.2f}x of {ceiling.name.split(' (')[0][:12]}"
            if target is not None:
                ratio += f" (>= {target}) {'ok' if value >= target else 'MISS'}"
        print(
            f"| {result.name:42} | {result.rps:8.0f} | {result.p50_ms:7.2f} | "
            f"{result.p99_ms:7.2f} | {result.errors:7d} | {ratio} |"
        )
    print("(non-2xx includes requests wrk gave up on: timeouts after 2 s, socket errors)\n")
    for result in (health, ready):
        verdict = "ok" if result.p99_ms < 15 else "MISS"
        print(f"{result.name} p99 {result.p99_ms:.2f} ms (target < 15 ms) {verdict}")
    print_growth(page, large_page, seeding)
    print(
        f"platform-api RSS: idle {idle:.1f} MB, after load {loaded:.1f} MB (target <= 80 MB) "
        f"{'ok' if loaded <= 80 else 'MISS'}"
    )
    print(
        f"platform-migrate upgrade no-op (median of 5, incl. interpreter start): {noop:.2f} s "
        f"(target <= 1.5 s) {'ok' if noop <= 1.5 else 'MISS'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
