"""The in-cluster load generator: a pod running loadgen.py against a Service, and its result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tests.cluster.kube import Kube
from tests.e2e.calls import TOKEN_SECRET
from tests.e2e.chart import BUILD, IMAGES, Obj
from tests.e2e.pods import wait_for
from tests.e2e.timeline import TIMELINE
from tests.e2e.workloads import restricted_pod

# The generator itself: a standalone, standard-library script, run in the pod as `python -c`.
LOAD_SCRIPT = (Path(__file__).parent / "loadgen.py").read_text()


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


def assert_one_restart_outage(result: LoadResult, figure: str, limit: float = 60) -> None:
    """Reads failed only while PostgreSQL restarted once: the API's bounded 503, or no endpoint
    once that outlasts the readiness window; never a 500; within `limit` s; then successes."""
    assert set(result.statuses) <= {"200", "503", "error"}, result.summary()
    if result.first_failure is not None and result.last_failure is not None:
        outage = result.last_failure - result.first_failure
        TIMELINE.figure(figure, f"{result.failed} in {outage:.1f} s")
        assert outage <= limit, result.errors
    assert result.ok_after_last_failure > 20, result.summary()


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
        container = {
            "name": "load",
            "image": self.image,
            "imagePullPolicy": IMAGES.pull_policy,
            "command": ["python", "-c", LOAD_SCRIPT],
            "env": [*({"name": k, "value": v} for k, v in env.items()), token],
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
        }
        return restricted_pod(
            self.name,
            {"app.kubernetes.io/component": "e2e-load"},
            container,
            self.node,
            terminationGracePeriodSeconds=5,
            volumes=[{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
        )

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
