"""Helpers of the end-to-end suite: helm, state checks, psql, in-cluster load, the timeline.

Everything goes through `kubectl` and `helm` subprocesses against one kubeconfig (KUBECONFIG,
else `.cluster/kubeconfig`), so the suite runs unchanged against kind or Docker Desktop once the
images are on the nodes.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from tests.cluster.kube import Kube

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "e2e"
CHART = ROOT / "k8s" / "helm" / "platform"
RELEASE = "platform"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
T = TypeVar("T")
Obj = dict[str, Any]


# --------------------------------------------------------------------------------------------
# images and tools


def split_image(reference: str) -> tuple[str, str]:
    """`repo/name:tag` -> (`repo/name`, `tag`); the tag is after the last colon of the last part."""
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image {reference!r} has no tag")
    return repository, tag


def baseline_commit() -> str:
    """The commit the upgrade test starts from: the one line of tests/e2e/baseline.txt that is."""
    lines = (ROOT / "tests" / "e2e" / "baseline.txt").read_text().splitlines()
    return next(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def baseline_tree() -> Path:
    """That commit's files (`git archive`), extracted once under build/e2e. Parallel workers may
    race here: each extracts into a directory of its own and renames it into place."""
    commit = baseline_commit()
    tree = BUILD / f"baseline-{commit}"
    if not (tree / "k8s").is_dir():
        BUILD.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"baseline-{commit}-", dir=BUILD))
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(scratch)], input=archive, check=True)
        try:
            scratch.rename(tree)
        except OSError:  # another worker's copy got there first (or a stale partial one)
            shutil.rmtree(scratch)
            if not (tree / "k8s").is_dir():
                raise
    return tree


@dataclass(frozen=True)
class Images:
    """The images the suite deploys; `make e2e` passes them from mk/e2e.mk."""

    old: str = os.environ.get("E2E_IMAGE_OLD", "platform-api:1.0.0")
    new: str = os.environ.get("E2E_IMAGE_NEW", "platform-api:1.0.1-e2e")
    bad: str = os.environ.get("E2E_IMAGE_BAD", "platform-api:1.0.2-bad")
    slow: str = os.environ.get("E2E_IMAGE_SLOW", "platform-api:1.0.3-slow")
    baseline: str = os.environ.get("E2E_IMAGE_BASELINE", f"platform-api:{baseline_commit()}")
    postgres: str = os.environ.get("E2E_POSTGRES_IMAGE", "localhost/platform-postgres:15")
    pull_policy: str = os.environ.get("E2E_PULL_POLICY", "IfNotPresent")


IMAGES = Images()


def version_of(image: str) -> str:
    """The version `GET /` reports for an image: its tag (the e2e images rewrite it)."""
    return split_image(image)[1]


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> Obj:
    out: Obj = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def chart_values(image: str, extra: Mapping[str, Any] | None = None) -> Obj:
    """Values for the loaded images (nothing is pulled) plus `extra`."""
    repository, tag = split_image(image)
    pg_repository, pg_tag = split_image(IMAGES.postgres)
    values: Obj = {
        "image": {"repository": repository, "tag": tag, "pullPolicy": IMAGES.pull_policy},
        "database": {
            "image": {"repository": pg_repository, "tag": pg_tag, "pullPolicy": IMAGES.pull_policy}
        },
    }
    return deep_merge(values, extra or {})


@dataclass(frozen=True)
class Helm:
    """One helm binary (3 or 4) bound to the kubeconfig and a namespace; release `platform`."""

    binary: str
    config: str
    namespace: str
    label: str  # "helm3" / "helm4", for file names and the timeline

    def run(self, *args: str, timeout: float = 600, check: bool = True) -> str:
        result = self.try_run(*args, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.label} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result.stdout

    def argv(self, *args: str) -> list[str]:
        return [self.binary, "--kubeconfig", self.config, "--namespace", self.namespace, *args]

    def try_run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    @staticmethod
    def chart_path() -> str:
        return str(CHART)

    def values_file(self, name: str, values: Mapping[str, Any]) -> str:
        """Write values as JSON (valid YAML: no --set quoting surprises) under build/e2e."""
        path = BUILD / f"{self.namespace}-{name}-values.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=1))
        return str(path)

    def deploy(
        self,
        action: str,
        name: str,
        values: Mapping[str, Any],
        *flags: str,
        check: bool = True,
        chart: Path = CHART,
    ) -> subprocess.CompletedProcess[str]:
        """`helm install|upgrade platform CHART -f values FLAGS`."""
        args = [action, RELEASE, str(chart), "-f", self.values_file(name, values), *flags]
        result = self.try_run(*args)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.label} {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def history(self) -> list[Obj]:
        out: list[Obj] = json.loads(self.run("history", RELEASE, "-o", "json"))
        return out


def make(target: str, kube: Kube) -> subprocess.CompletedProcess[str]:
    """`make TARGET` (k8s-apply, k8s-delete) against this namespace, with the e2e images."""
    assert kube.namespace
    env = os.environ | {
        "KUBECONFIG": kube.config,
        "K8S_NAMESPACE": kube.namespace,
        "API_IMAGE": IMAGES.old,
        "POSTGRES_IMAGE": IMAGES.postgres,
        "IMAGE_PULL_POLICY": IMAGES.pull_policy,
        "K8S_TIMEOUT": "240",
    }
    result = subprocess.run(
        ["make", "-C", str(ROOT), "--no-print-directory", target],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"make {target} failed:\n{result.stdout}\n{result.stderr}"
    return result


# --------------------------------------------------------------------------------------------
# waiting and pod state


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 120, interval: float = 1
) -> T:
    """Call `probe` until it returns something other than None/False; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (AssertionError, subprocess.SubprocessError, KeyError, ValueError) as error:
            last_error, value = error, None
        if value is not None and value is not False:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last_error})")


def pods(kube: Kube, selector: str) -> list[Obj]:
    items: list[Obj] = kube.get("pods", "-l", selector)["items"]
    return items


def is_ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):
        return False
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def restart_counts(pod: Obj) -> dict[str, int]:
    statuses = pod.get("status", {}).get("containerStatuses", []) + pod.get("status", {}).get(
        "initContainerStatuses", []
    )
    return {s["name"]: int(s.get("restartCount", 0)) for s in statuses}


def live(items: list[Obj]) -> list[Obj]:
    """Pods that are not being deleted."""
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def api_image(pod: Obj) -> str:
    return str(next(c["image"] for c in pod["spec"]["containers"] if c["name"] == "api"))


def ready_api_pods(kube: Kube, selector: str, replicas: int, image: str | None = None) -> list[Obj]:
    """The API pods once exactly `replicas` exist, all Ready (on `image`), none terminating."""

    def probe() -> list[Obj] | None:
        items = pods(kube, selector)
        if len(items) != replicas or not all(is_ready(p) for p in items):
            return None
        if image and any(api_image(p) != image for p in items):
            return None
        return items

    return wait_for(probe, f"{replicas} Ready API pods ({image or 'any image'})", timeout=240)


def job_complete(job: Obj) -> bool:
    conditions = job.get("status", {}).get("conditions", [])
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def assert_final_state(
    kube: Kube, *, api_selector: str, postgres_pod: str, job_selector: str, replicas: int
) -> dict[str, Any]:
    """The seed's final state: API pods Running+Ready, PostgreSQL Running+Ready, Job Complete."""
    api = ready_api_pods(kube, api_selector, replicas)
    for pod in api:
        assert pod["status"]["phase"] == "Running", pod["metadata"]["name"]
        assert set(restart_counts(pod).values()) == {0}, restart_counts(pod)
    pg = wait_for(
        lambda: (p := kube.get("pod", postgres_pod)) and is_ready(p) and p,
        f"{postgres_pod} Ready",
        timeout=120,
    )
    assert pg["status"]["phase"] == "Running"
    jobs = wait_for(
        lambda: [j for j in kube.get("jobs", "-l", job_selector)["items"] if job_complete(j)],
        "a Complete migration Job",
        timeout=120,
    )
    return {
        "api": [p["metadata"]["name"] for p in api],
        "postgres": postgres_pod,
        "jobs": [j["metadata"]["name"] for j in jobs],
    }


# --------------------------------------------------------------------------------------------
# talking to the database and the API from inside their pods


def psql(kube: Kube, pod: str, sql: str) -> str:
    """Run SQL with psql inside the PostgreSQL pod (local socket, the pod's own user and db)."""
    out = kube.run(
        "exec", pod, "-c", "postgres", "--", "sh", "-c",
        'psql -X -v ON_ERROR_STOP=1 -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', "psql", sql,
    )  # fmt: skip
    return out.strip()


def schema_state(kube: Kube, pod: str) -> dict[str, Any]:
    """alembic_version, the revision ledger and the tables the e2e migrations may create."""
    current = psql(kube, pod, "SELECT version_num FROM alembic_version")
    ledger = psql(kube, pod, "SELECT revision FROM schema_revisions ORDER BY applied_at, revision")
    tables = psql(
        kube, pod,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )  # fmt: skip
    return {"current": current, "ledger": ledger.split(), "tables": tables.split()}


# What the API's connections log in as (TCP clients; the test's own psql uses the local socket).
LOGINS_SQL = (
    "SELECT string_agg(DISTINCT a.usename || ':' || r.rolsuper, ',') FROM pg_stat_activity a "
    "JOIN pg_roles r ON r.rolname = a.usename "
    "WHERE a.client_addr IS NOT NULL AND a.backend_type = 'client backend'"
)


def database_logins(kube: Kube, pod: str) -> set[str]:
    """`role:is_superuser` of every TCP session the database has: who the API logs in as."""
    return set(filter(None, psql(kube, pod, LOGINS_SQL).split(",")))


API_CALL = """
import json, sys, urllib.error, urllib.request
method, path, body, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
headers = {"Content-Type": "application/json"}
if token:
    headers["Authorization"] = "Bearer " + token
request = urllib.request.Request("http://127.0.0.1:8000" + path, method=method,
    data=body.encode() if body else None, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        status, payload = response.status, response.read()
except urllib.error.HTTPError as error:
    status, payload = error.code, error.read()
print(json.dumps({"status": status, "body": payload.decode()}))
"""


TOKEN_SECRET = "platform-api-token"


def api_token(kube: Kube, secret: str = TOKEN_SECRET, key: str = "token") -> str:
    """The writers' bearer token, read from its Secret as every writer does."""
    data = kube.get("secret", secret)["data"]
    return base64.b64decode(data[key]).decode()


def api_call(
    kube: Kube, pod: str, method: str, path: str, body: Obj | None = None, *, token: str = ""
) -> tuple[int, Any]:
    """An HTTP request to the API from inside one API pod (no port-forward needed)."""
    out = kube.run(
        "exec", pod, "-c", "api", "--", "python", "-c", API_CALL, method, path,
        json.dumps(body) if body is not None else "", token,
    )  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    text = result["body"]
    try:
        return int(result["status"]), json.loads(text)
    except json.JSONDecodeError:
        return int(result["status"]), text


# --------------------------------------------------------------------------------------------
# in-cluster load generator

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


# --------------------------------------------------------------------------------------------
# security


def assert_pods_restricted(kube: Kube) -> int:
    """Every pod and container: non-root, read-only root fs, no escalation, caps dropped.

    The namespace enforces `restricted`, so existing pods were admitted under it; this checks the
    specs say so explicitly and that the namespace label is really in force.
    """
    namespace = kube.get("namespace", str(kube.namespace))
    for key, value in RESTRICTED.items():
        assert namespace["metadata"]["labels"].get(key) == value, (key, namespace["metadata"])
    items = kube.get("pods")["items"]
    assert items, "no pods to check"
    for pod in items:
        name, spec = pod["metadata"]["name"], pod["spec"]
        pod_context = spec.get("securityContext", {})
        for c in spec.get("initContainers", []) + spec["containers"]:
            context = c.get("securityContext", {})
            where = f"{name}/{c['name']}"
            assert context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is True, where
            user = context.get("runAsUser", pod_context.get("runAsUser"))
            assert user is not None, f"{where}: no numeric runAsUser"
            assert user != 0, where
            assert context.get("readOnlyRootFilesystem") is True, f"{where}: root fs writable"
            assert context.get("allowPrivilegeEscalation") is False, where
            assert "ALL" in context.get("capabilities", {}).get("drop", []), where
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
            assert seccomp.get("type") in ("RuntimeDefault", "Localhost"), where
    # And the admission really enforces: a privileged pod is refused (server-side dry run).
    privileged = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "e2e-privileged"},
        "spec": {
            "containers": [
                {"name": "c", "image": IMAGES.old, "securityContext": {"privileged": True}}
            ]
        },
    }
    refused = kube.try_run("apply", "--dry-run=server", "-f", "-", stdin=json.dumps(privileged))
    assert refused.returncode != 0, "a privileged pod was admitted"
    assert "violates PodSecurity" in refused.stderr, refused.stderr
    events = kube.run("get", "events", "-o", "json")
    assert "violates PodSecurity" not in events, "some pod of the release was refused"
    return len(items)


def assert_runs_as_non_root_read_only(kube: Kube, pod: str, container: str) -> None:
    """Inside a running container: uid is not 0 and the root filesystem refuses writes."""
    uid = kube.run("exec", pod, "-c", container, "--", "id", "-u").strip()
    assert uid not in ("", "0"), f"{pod}/{container} runs as uid {uid!r}"
    touched = kube.try_run("exec", pod, "-c", container, "--", "touch", "/e2e-write-test")
    assert touched.returncode != 0, f"{pod}/{container}: root filesystem is writable"
    assert "Read-only file system" in touched.stderr, touched.stderr


def secret_values(kube: Kube) -> list[str]:
    """Decoded values of the namespace's Opaque Secrets (Helm's release records excluded).

    User names are left out: `platform` is both the user and the database name (POSTGRES_DB in
    the ConfigMap), so it necessarily appears there; the password is what must never leak.
    """
    values = []
    for secret in kube.get("secrets")["items"]:
        if secret.get("type") != "Opaque":
            continue
        for key, encoded in (secret.get("data") or {}).items():
            if key.upper().endswith("USER"):
                continue
            values.append(base64.b64decode(encoded).decode(errors="replace"))
    return values


def assert_no_secret_leaks(kube: Kube) -> dict[str, int]:
    """No Secret value appears in any ConfigMap or in the log of any container of any pod."""
    secrets = secret_values(kube)
    assert secrets, "no secret values found to look for"
    configmaps = kube.get("configmaps")["items"]
    for cm in configmaps:
        text = json.dumps(cm.get("data") or {})
        for value in secrets:
            assert value not in text, f"a secret value is in configmap/{cm['metadata']['name']}"
    logs_checked = 0
    for pod in kube.get("pods")["items"]:
        name = pod["metadata"]["name"]
        for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]:
            result = kube.try_run("logs", name, "-c", c["name"])
            if result.returncode != 0:  # not started yet
                continue
            logs_checked += 1
            for value in secrets:
                assert value not in result.stdout, f"a secret value is in the log of {name}"
    return {"secrets": len(secrets), "configmaps": len(configmaps), "logs": logs_checked}


# --------------------------------------------------------------------------------------------
# namespaces


def create_namespace(cluster: Kube, name: str) -> Kube:
    """A namespace enforcing Pod Security `restricted`, with its default ServiceAccount."""
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
    )
    kube = cluster.in_namespace(name)
    kube.run("wait", "--for=create", "serviceaccount/default", "--timeout=60s")
    return kube


def leftovers(kube: Kube) -> list[str]:
    """Every namespaced object but the namespace's own defaults (and Events)."""
    kinds = (
        "deployments,statefulsets,replicasets,pods,services,endpoints,jobs,configmaps,secrets,"
        "serviceaccounts,persistentvolumeclaims,poddisruptionbudgets,networkpolicies,"
        "horizontalpodautoscalers"
    )
    names = kube.run("get", kinds, "-o", "name").split()
    defaults = {"configmap/kube-root-ca.crt", "serviceaccount/default"}
    return sorted(n for n in names if n not in defaults)


def check_security(kube: Kube, api_pod: str, postgres_pod: str) -> str:
    """Step 5 for one namespace: restricted specs, enforcement, live uid/ro checks, no leaks."""
    checked = assert_pods_restricted(kube)
    assert_runs_as_non_root_read_only(kube, api_pod, "api")
    assert_runs_as_non_root_read_only(kube, postgres_pod, "postgres")
    leaks = assert_no_secret_leaks(kube)
    return (
        f"{checked} pods restricted; {leaks['secrets']} secret values absent from "
        f"{leaks['configmaps']} configmaps and {leaks['logs']} container logs"
    )
