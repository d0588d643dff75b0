"""The load generator that runs inside the cluster (`tests/e2e/load.py` starts it in a pod).

Standard library only: it runs in the app image as `python -c <this file>`. A new connection per
request, as a client behind kube-proxy sees it: every request picks a backend, so a pod that
leaves the Service too early shows up as a failure. Bounded by MAX_SECONDS and MAX_REQUESTS;
stops early when /tmp/stop exists. Prints one JSON line at start, progress every 5 s, and
`RESULT {json}` (the fields of `load.LoadResult`) at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from typing import Any

STOP_FILE = "/tmp/stop"  # noqa: S108 - the pod's own emptyDir


class Load:
    def __init__(self, env: dict[str, str]) -> None:
        self.host, self.port = env["LOAD_HOST"], int(env["LOAD_PORT"])
        self.workers, self.pause = int(env["LOAD_WORKERS"]), float(env["LOAD_PAUSE"])
        self.token, self.write_every = env.get("API_TOKEN", ""), int(env["LOAD_WRITE_EVERY"])
        self.max_requests = int(env["MAX_REQUESTS"])
        self.deadline = time.monotonic() + float(env["MAX_SECONDS"])
        self.name = env.get("HOSTNAME", "load")
        self.lock = threading.Lock()
        self.stats: dict[str, Any] = {
            "sent": 0, "ok": 0, "failed": 0, "statuses": {}, "versions": {}, "errors": [],
            "failure_starts": [], "first_failure": None, "last_failure": None, "last_ok": None,
            "last_version": None, "ok_after_last_failure": 0,
        }  # fmt: skip

    def request(self, method: str, path: str, body: object = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            headers = {"Connection": "close"}
            if self.token and method != "GET":
                headers["Authorization"] = "Bearer " + self.token
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def one(self, index: int, n: int) -> tuple[int | None, str | None, str | None]:
        """One request: (status, the version `/` reported, the error if it failed)."""
        status, version = None, None
        try:
            if self.write_every and n % self.write_every == 0:
                item = {"name": f"{self.name}-{index}-{n}"}
                status, payload = self.request("POST", "/api/v1/items", item)
            elif n % 3 == 0:
                status, payload = self.request("GET", "/")
                if status == 200:
                    version = json.loads(payload)["version"]
            else:
                status, payload = self.request("GET", "/api/v1/items?limit=5")
        except Exception as exc:  # noqa: BLE001 - every way a request can fail is a failure
            return status, None, f"{type(exc).__name__}: {exc}"
        if not 200 <= status < 300:
            return status, None, f"HTTP {status}: {payload[:100]!r}"
        return status, version, None

    def record(self, started: float, status: int | None, version: str | None,
               error: str | None) -> None:  # fmt: skip
        stats, now = self.stats, time.time()
        key = str(status) if status is not None else "error"
        stats["statuses"][key] = stats["statuses"].get(key, 0) + 1
        if error is None:
            stats["ok"] += 1
            stats["last_ok"] = now
            stats["ok_after_last_failure"] += 1
            if version:
                stats["versions"][version] = stats["versions"].get(version, 0) + 1
                stats["last_version"] = version
            return
        stats["failed"] += 1
        stats["first_failure"] = stats["first_failure"] or started
        stats["last_failure"] = now
        stats["ok_after_last_failure"] = 0
        stats["failure_starts"].append(round(started, 3))
        # The first 20 and the latest 20: how an outage began and how it ended.
        stats["errors"].append({"at": round(started, 3), "error": error})
        if len(stats["errors"]) > 40:
            del stats["errors"][20]

    def worker(self, index: int) -> None:
        n = 0
        while time.monotonic() < self.deadline and not os.path.exists(STOP_FILE):
            with self.lock:
                if self.stats["sent"] >= self.max_requests:
                    return
                self.stats["sent"] += 1
            n += 1
            started = time.time()
            status, version, error = self.one(index, n)
            with self.lock:
                self.record(started, status, version, error)
            time.sleep(self.pause)

    def run(self) -> None:
        started_at = time.time()
        threads = [
            threading.Thread(target=self.worker, args=(i,), daemon=True)
            for i in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        print(json.dumps({"event": "started", "at": started_at}), flush=True)
        while any(thread.is_alive() for thread in threads):
            time.sleep(5)
            with self.lock:
                progress = {"event": "progress", "sent": self.stats["sent"],
                            "failed": self.stats["failed"]}  # fmt: skip
            print(json.dumps(progress), flush=True)
        self.stats["started_at"], self.stats["finished_at"] = started_at, time.time()
        self.stats["stopped_by"] = "file" if os.path.exists(STOP_FILE) else "limit"
        print("RESULT " + json.dumps(self.stats), flush=True)


if __name__ == "__main__":
    Load(dict(os.environ)).run()
