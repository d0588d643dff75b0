"""The in-cluster load generator: a pod sending requests to a Service, and its result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tests.cluster.kube import Kube
from tests.e2e.calls import TOKEN_SECRET
from tests.e2e.chart import BUILD, IMAGES, Obj
from tests.e2e.pods import wait_for

# Runs in the app image (standard library only). A new connection per request, as a client
# behind kube-proxy sees it: every request picks a backend, so a pod that leaves the Service
# too early shows up as a failure. Bounded by MAX_SECONDS and MAX_REQUESTS; stops early when
# /tmp/stop exists. Prints one JSON line at start, progress every 5 s, and `RESULT {json}`.
LOAD_SCRIPT = r"""
import http.client, json, os, threading, time
HOST, PORT = os.environ["LOAD_HOST"], int(os.environ["LOAD_PORT"])
WORKERS, PAUSE = int(os.environ["LOAD_WORKERS"]), float(os.environ["LOAD_PAUSE"])
TOKEN, WRITE_EVERY = os.environ.get("API_TOKEN", ""), int(os.environ["LOAD_WRITE_EVERY"])
MAX_SECONDS, MAX_REQUESTS = float(os.environ["MAX_SECONDS"]), int(os.environ["MAX_REQUESTS"])
NAME = os.environ.get("HOSTNAME", "load")
lock = threading.Lock()
stats = {"sent": 0, "ok": 0, "failed": 0, "statuses": {}, "versions": {}, "errors": [],
         "failure_starts": [],
         "first_failure": None, "last_failure": None, "last_ok": None, "last_version": None,
         "ok_after_last_failure": 0}
deadline = time.monotonic() + MAX_SECONDS

def request(method, path, body=None):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
    try:
        headers = {"Connection": "close"}
        if TOKEN and method != "GET":
            headers["Authorization"] = "Bearer " + TOKEN
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()

def worker(index):
    n = 0
    while time.monotonic() < deadline and not os.path.exists("/tmp/stop"):
        with lock:
            if stats["sent"] >= MAX_REQUESTS:
                return
            stats["sent"] += 1
        n += 1
        version, error, status = None, None, None
        started = time.time()
        try:
            if WRITE_EVERY and n % WRITE_EVERY == 0:
                status, payload = request("POST", "/api/v1/items", {"name": f"{NAME}-{index}-{n}"})
            elif n % 3 == 0:
                status, payload = request("GET", "/")
                if status == 200:
                    version = json.loads(payload)["version"]
            else:
                status, payload = request("GET", "/api/v1/items?limit=5")
            if not 200 <= status < 300:
                error = f"HTTP {status}: {payload[:100]!r}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        now = time.time()
        with lock:
            key = str(status) if status is not None else "error"
            stats["statuses"][key] = stats["statuses"].get(key, 0) + 1
            if error is None:
                stats["ok"] += 1
                stats["last_ok"] = now
                stats["ok_after_last_failure"] += 1
                if version:
                    stats["versions"][version] = stats["versions"].get(version, 0) + 1
                    stats["last_version"] = version
            else:
                stats["failed"] += 1
                stats["first_failure"] = stats["first_failure"] or started
                stats["last_failure"] = now
                stats["ok_after_last_failure"] = 0
                stats["failure_starts"].append(round(started, 3))
                # The first 20 and the latest 20: how an outage began and how it ended.
                stats["errors"].append({"at": round(started, 3), "error": error})
                if len(stats["errors"]) > 40:
                    del stats["errors"][20]
        time.sleep(PAUSE)

started_at = time.time()
threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
for thread in threads:
    thread.start()
print(json.dumps({"event": "started", "at": started_at}), flush=True)
while any(thread.is_alive() for thread in threads):
    time.sleep(5)
    with lock:
        print(json.dumps({"event": "progress", "sent": stats["sent"], "failed": stats["failed"]}),
              flush=True)
stats["started_at"], stats["finished_at"] = started_at, time.time()
stats["stopped_by"] = "file" if os.path.exists("/tmp/stop") else "limit"
print("RESULT " + json.dumps(stats), flush=True)
"""


@dataclass
class LoadResult:
    sent: int
    ok: int
    failed: int
    statuses: dict[str, int]
    versions: dict[str, int]
    errors: list[Obj]  # the first 20 and the last 20: when each started, and why it failed
    failure_starts: list[float]  # when every failed request started
    first_failure: float | None
    last_failure: float | None
    last_version: str | None
    ok_after_last_failure: int
    started_at: float
    finished_at: float
    stopped_by: str

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at

    def summary(self) -> str:
        return (
            f"{self.sent} sent, {self.failed} failed in {self.seconds:.0f} s "
            f"(statuses {self.statuses}, versions {self.versions})"
        )


@dataclass
class LoadGenerator:
    """A pod running LOAD_SCRIPT against a Service by its DNS name; one per measured phase."""

    kube: Kube
    name: str
    image: str
    host: str
    port: int = 80
    workers: int = 4
    pause: float = 0.05
    max_seconds: int = 420
    max_requests: int = 60000
    # Every n-th request is a POST with the token (0: reads only, what an old client can still do).
    write_every: int = 10
    # The writers' interface: the token Secret's key `token`, read when the pod starts.
    token_secret: str = TOKEN_SECRET
    # Pin the generator to a node (kubernetes.io/hostname), e.g. one the test never drains or stops.
    node: str | None = None
    result: LoadResult | None = field(default=None, init=False)

    def manifest(self) -> Obj:
        env = {
            "LOAD_HOST": self.host,
            "LOAD_PORT": str(self.port),
            "LOAD_WORKERS": str(self.workers),
            "LOAD_PAUSE": str(self.pause),
            "MAX_SECONDS": str(self.max_seconds),
            "MAX_REQUESTS": str(self.max_requests),
            "LOAD_WRITE_EVERY": str(self.write_every),
        }
        token = {
            "name": "API_TOKEN",
            "valueFrom": {
                "secretKeyRef": {"name": self.token_secret, "key": "token", "optional": True}
            },
        }
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": self.name,
                "labels": {"app.kubernetes.io/component": "e2e-load"},
            },
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 5,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "runAsGroup": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "load",
                        "image": self.image,
                        "imagePullPolicy": IMAGES.pull_policy,
                        "command": ["python", "-c", LOAD_SCRIPT],
                        "env": [*({"name": k, "value": v} for k, v in env.items()), token],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi"},
                            "limits": {"cpu": "500m", "memory": "256Mi"},
                        },
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                **({"nodeSelector": {"kubernetes.io/hostname": self.node}} if self.node else {}),
            },
        }

    def start(self) -> LoadGenerator:
        self.kube.apply(self.manifest())
        wait_for(
            lambda: '"started"' in self.kube.run("logs", self.name),
            f"load generator {self.name} to start",
            timeout=90,
        )
        return self

    def progress(self) -> Obj:
        lines = [x for x in self.kube.run("logs", self.name).splitlines() if '"progress"' in x]
        out: Obj = json.loads(lines[-1]) if lines else {"sent": 0, "failed": 0}
        return out

    def stop(self) -> LoadResult:
        self.kube.run("exec", self.name, "--", "python", "-c", "open('/tmp/stop', 'w').close()")
        self.kube.wait("jsonpath={.status.phase}=Succeeded", f"pod/{self.name}", timeout=60)
        logs = self.kube.run("logs", self.name)
        line = next(x for x in logs.splitlines() if x.startswith("RESULT "))
        data = json.loads(line.removeprefix("RESULT "))
        self.result = LoadResult(**{k: data[k] for k in LoadResult.__dataclass_fields__})
        (BUILD / f"{self.kube.namespace}-{self.name}.json").write_text(line.removeprefix("RESULT "))
        self.kube.run("delete", "pod", self.name, "--wait=false")
        return self.result
