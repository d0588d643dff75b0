"""A thin kubectl wrapper and the manifests the smoke tests share."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
# The harness's busybox image (make cluster-up loads it); override for another cluster.
IMAGE = os.environ.get("CLUSTER_TEST_IMAGE", "localhost/platform-busybox:1.35")
T = TypeVar("T")


def kubeconfig() -> str:
    """KUBECONFIG from the environment, else the one `make cluster-up` writes."""
    path = os.environ.get("KUBECONFIG") or str(REPO / ".cluster" / "kubeconfig")
    if not Path(path.split(os.pathsep)[0]).exists():
        raise RuntimeError(f"no kubeconfig at {path}: run `make cluster-up` or set KUBECONFIG")
    return path


@dataclass(frozen=True)
class Kube:
    """kubectl bound to one kubeconfig and, optionally, one namespace."""

    config: str
    namespace: str | None = None

    def in_namespace(self, namespace: str) -> Kube:
        return Kube(self.config, namespace)

    def argv(self, *args: str) -> list[str]:
        ns = ["--namespace", self.namespace] if self.namespace else []
        return ["kubectl", "--kubeconfig", self.config, *ns, *args]

    def run(self, *args: str, stdin: str | None = None, timeout: float = 150) -> str:
        """Run kubectl; return stdout, raise with stderr on failure."""
        result = self.try_run(*args, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def try_run(
        self, *args: str, stdin: str | None = None, timeout: float = 150
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def apply(self, *objects: dict[str, Any]) -> None:
        self.run(
            "apply",
            "-f",
            "-",
            stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)}),
        )

    def get(self, *args: str) -> Any:
        return json.loads(self.run("get", *args, "-o", "json"))

    def wait(self, condition: str, target: str, timeout: int = 120) -> None:
        self.run(
            "wait", f"--for={condition}", target, f"--timeout={timeout}s", timeout=timeout + 30
        )

    def exec(self, pod: str, *command: str) -> str:
        return self.run("exec", pod, "--", *command)

    def http_get(self, pod: str, host: str, port: int) -> str:
        """The body of `GET /` on host:port, fetched from inside `pod`.

        With nc: Debian's static busybox `wget` crashes (SIGSEGV) on these machines. The name
        goes through the C library's resolver, so the pod's DNS search domains apply.
        """
        request = "printf 'GET / HTTP/1.0\\r\\n\\r\\n'"
        response = self.exec(pod, "sh", "-c", f"{request} | nc -w 3 {host} {port}")
        # Text mode already turned the CRLFs into newlines.
        head, separator, body = response.replace("\r\n", "\n").partition("\n\n")
        assert separator, f"no HTTP response from {host}:{port}: {response!r}"
        assert head.split()[1] == "200", head
        return body


@contextmanager
def scratch_namespace(cluster: Kube, labels: dict[str, str] | None = None) -> Iterator[Kube]:
    """A fresh namespace `smoke-…` for the block, deleted afterwards."""
    name = f"smoke-{uuid.uuid4().hex[:8]}"
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}},
        }
    )
    # Pods need the namespace's default service account, which a controller creates.
    kube = cluster.in_namespace(name)
    kube.run("wait", "--for=create", "serviceaccount/default", "--timeout=60s")
    try:
        yield kube
    finally:
        cluster.run("delete", "namespace", name, "--wait=false")


def schedulable_nodes(cluster: Kube) -> list[str]:
    """Names of the Ready nodes that take new pods (not cordoned), sorted."""
    names = []
    for node in cluster.get("nodes")["items"]:
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        if conditions.get("Ready") == "True" and not node["spec"].get("unschedulable"):
            names.append(node["metadata"]["name"])
    return sorted(names)


def on_node(node: str) -> dict[str, Any]:
    """Pod spec fields that pin a pod to `node` (through the scheduler, unlike nodeName)."""
    return {"nodeSelector": {"kubernetes.io/hostname": node}}


def eventually(probe: Callable[[], T], timeout: float = 60, interval: float = 1) -> T:
    """Call `probe` until it stops raising; re-raise its last error after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except (AssertionError, subprocess.SubprocessError):
            if time.monotonic() > deadline:
                raise
        time.sleep(interval)


def container(name: str, command: str, **extra: Any) -> dict[str, Any]:
    """A busybox container running `command` with sh."""
    return {
        "name": name,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c", command],
        **extra,
    }


def http_server(text: str, port: int = 8080) -> dict[str, Any]:
    """A container serving `text` (shell-expanded in the pod) at / on `port`, with readiness."""
    return container(
        "web",
        f'mkdir -p /tmp/www && echo "{text}" > /tmp/www/index.html && '
        f"exec httpd -f -p {port} -h /tmp/www",
        ports=[{"name": "http", "containerPort": port}],
        readinessProbe={"httpGet": {"path": "/", "port": port}, "periodSeconds": 1},
    )


def job(name: str, command: str, **spec: Any) -> dict[str, Any]:
    """A Job of one busybox container running `command` once, never retried."""
    template = {"spec": {"restartPolicy": "Never", "containers": [container("main", command)]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, **spec, "template": template},
    }


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": list(containers), "terminationGracePeriodSeconds": 1, **spec},
    }


def sleeper(name: str, **spec: Any) -> dict[str, Any]:
    """A pod that only waits, to exec commands in."""
    return pod(name, container("main", "exec sleep 3600"), **spec)


@contextmanager
def port_forward(kube: Kube, target: str, port: int) -> Iterator[str]:
    """`kubectl port-forward TARGET :PORT` on loopback; yields the base URL."""
    forward = subprocess.Popen(
        kube.argv("port-forward", target, "--address", "127.0.0.1", f":{port}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+) ->", first)
        assert match, f"unexpected port-forward output: {first!r}"
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        forward.terminate()
        forward.communicate(timeout=10)
