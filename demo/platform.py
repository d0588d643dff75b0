"""The release the demo installs and the state it waits for: the seed's final `kubectl get pods`.

`helm install platform ./k8s/helm/platform -n platform` with the locally built images; then the
API pods Running and Ready, `platform-postgres-0` Running and Ready, the migration pod Completed.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RELEASE = "platform"
NAMESPACE = "platform"
# The chart's names for release `platform` (its full name is the release name).
API_SERVICE = "platform-api"
TOKEN_SECRET = "platform-api-token"  # noqa: S105 -- a Secret's name, not a token
COMPONENT = "app.kubernetes.io/component"


def split_image(reference: str) -> tuple[str, str]:
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise ValueError(f"image {reference!r} has no tag")
    return repository, tag


def values(api_image: str, postgres_image: str) -> dict[str, Any]:
    """The chart's values for images that are on the nodes already (or pulled by them)."""
    repository, tag = split_image(api_image)
    pg_repository, pg_tag = split_image(postgres_image)
    return {
        "image": {"repository": repository, "tag": tag},
        "database": {"image": {"repository": pg_repository, "tag": pg_tag}},
    }


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path

    def argv(self, *args: str) -> list[str]:
        return ["kubectl", "--kubeconfig", str(self.kubeconfig), "-n", NAMESPACE, *args]

    def json(self, *args: str) -> Any:
        result = subprocess.run(
            self.argv(*args, "-o", "json"), capture_output=True, text=True, check=False
        )
        return json.loads(result.stdout) if result.returncode == 0 else None


def _ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def _waiting_reason(pod: dict[str, Any]) -> str:
    """Why a pod is not there yet, as `kubectl get pods` would say (e.g. ImagePullBackOff)."""
    status = pod.get("status", {})
    for container in status.get("initContainerStatuses", []) + status.get("containerStatuses", []):
        waiting = container.get("state", {}).get("waiting")
        if waiting and waiting.get("reason") not in (None, "PodInitializing"):
            return f"{pod['metadata']['name']} {waiting['reason']}"
    return f"{pod['metadata']['name']} {status.get('phase', 'Pending')}"


def final_state(kubectl: Kubectl) -> tuple[bool, str]:
    """(reached?, what is there): every API replica Ready, PostgreSQL Ready, migration done."""
    deployment = kubectl.json("get", "deployment", API_SERVICE)
    pods = kubectl.json("get", "pods")
    if deployment is None or pods is None:
        return False, "waiting for the release's objects"
    by_component: dict[str, list[dict[str, Any]]] = {}
    for pod in pods["items"]:
        component = pod["metadata"].get("labels", {}).get(COMPONENT, "")
        by_component.setdefault(component, []).append(pod)
    wanted = deployment["spec"].get("replicas", 1)
    api = [p for p in by_component.get("api", []) if "deletionTimestamp" not in p["metadata"]]
    api_ready = sum(_ready(p) for p in api)
    database = by_component.get("database", [])
    migrations = by_component.get("migration", [])
    done = any(p["status"].get("phase") == "Succeeded" for p in migrations)
    database_ready = any(map(_ready, database))
    reached = api_ready == wanted == len(api) and database_ready and done
    waiting = [
        _waiting_reason(p)
        for p in api + database + migrations
        if not (_ready(p) or p["status"].get("phase") == "Succeeded")
    ]
    seen = (
        f"API {api_ready}/{wanted} Ready, PostgreSQL {'Ready' if database_ready else 'not Ready'}, "
        f"migration {'Completed' if done else 'not done'}"
    )
    return reached, seen + (f" ({', '.join(waiting[:2])})" if waiting else "")
