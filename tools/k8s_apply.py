"""Apply or delete the raw manifests (k8s/raw-manifests) in dependency order.

`apply`: foundation (namespace, service account, config, network policies) -> credentials and
token Secrets (generated once, never rotated; missing keys added) -> database -> wait Ready ->
migration Job under a new name -> wait Complete -> API -> wait rollout. `delete` removes what
`apply` created, claims included.

Usage: python tools/k8s_apply.py apply|delete [--overlay dev] [--namespace platform]
Images and the namespace can also come from API_IMAGE, POSTGRES_IMAGE, IMAGE_PULL_POLICY,
K8S_OVERLAY and K8S_NAMESPACE (what `make k8s-apply` passes through).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs; types-PyYAML is not locked

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "k8s" / "raw-manifests" / "overlays"
BASE_NAMESPACE = "platform"
SECRET_NAME = "platform-db"  # noqa: S105 -- the Secret's name, not a password
TOKEN_SECRET_NAME = "platform-api-token"  # noqa: S105 -- the Secret's name, not a token
DATABASE_USER = "platform"
# The API's login; the migration Job makes it (a member of APP_POSTGRES_GROUP, DML only).
APP_DATABASE_USER = "platform_app_a"
STATEFULSET = "postgres"
DEPLOYMENT = "platform-api"
MIGRATION_JOB = "postgres-migration"
# Labels of the StatefulSet's claim template: claims are made by the controller, not applied.
DATABASE_CLAIMS = "app.kubernetes.io/name=platform,app.kubernetes.io/component=database"
# Containers that run the PostgreSQL image; every other container runs the API image.
POSTGRES_CONTAINERS = frozenset({"postgres", "wait-for-postgres"})

Manifest = dict[str, Any]

# Apply order: each phase's resources are applied together, then its gate is awaited.
PHASES: tuple[tuple[str, frozenset[str]], ...] = (
    ("foundation", frozenset({"Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy"})),
    ("database", frozenset({"StatefulSet"})),
    ("migration", frozenset({"Job"})),
    ("api", frozenset({"Deployment", "PodDisruptionBudget", "HorizontalPodAutoscaler"})),
)


def log(message: str) -> None:
    """One timestamped progress line on stderr."""
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run kubectl against the current context and return its stdout."""
    result = subprocess.run(
        ["kubectl", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def render(overlay: str) -> list[Manifest]:
    """The overlay as kustomize builds it, one dict per resource."""
    path = OVERLAYS / overlay
    if not path.is_dir():
        raise SystemExit(f"no overlay {overlay!r} in {OVERLAYS}")
    return load_documents(kubectl("kustomize", str(path)))


def load_documents(text: str) -> list[Manifest]:
    """Parse a multi-document YAML stream, skipping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def pod_spec(doc: Manifest) -> Manifest | None:
    """The pod spec of a workload, or None for other kinds."""
    if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
        spec: Manifest = doc["spec"]["template"]["spec"]
        return spec
    return None


def containers(spec: Manifest) -> Iterable[Manifest]:
    """Init containers and containers of a pod spec."""
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def customise(
    docs: list[Manifest],
    namespace: str,
    api_image: str | None = None,
    postgres_image: str | None = None,
    pull_policy: str | None = None,
) -> list[Manifest]:
    """Retarget the namespace, override images and pull policy; returns new dicts."""
    out: list[Manifest] = json.loads(json.dumps(docs))
    for doc in out:
        if doc["kind"] == "Namespace":
            doc["metadata"]["name"] = namespace
        else:
            doc["metadata"]["namespace"] = namespace
        spec = pod_spec(doc)
        if spec is None:
            continue
        for container in containers(spec):
            image = postgres_image if container["name"] in POSTGRES_CONTAINERS else api_image
            if image:
                container["image"] = image
            if pull_policy:
                container["imagePullPolicy"] = pull_policy
    return out


def config_checksum(docs: Sequence[Manifest]) -> str:
    """Hash of the ConfigMap data and the Secret name, like the chart's checksum/config."""
    config = [doc.get("data", {}) for doc in docs if doc["kind"] == "ConfigMap"]
    payload = json.dumps({"config": config, "secret": SECRET_NAME}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def stamp_checksum(docs: list[Manifest]) -> None:
    """Annotate the API pod template so a config change rolls the pods."""
    checksum = config_checksum(docs)
    for doc in docs:
        if doc["kind"] == "Deployment":
            annotations = doc["spec"]["template"]["metadata"].setdefault("annotations", {})
            annotations["checksum/config"] = checksum


def migration_job_name(now: datetime) -> str:
    """A new name per run: a Job's pod template is immutable, so each run is a new Job."""
    return f"{MIGRATION_JOB}-{now:%Y%m%d%H%M%S}"


def phase_of(doc: Manifest) -> str:
    """Which apply phase a resource belongs to; Services go with the workload they front."""
    if doc["kind"] == "Service":
        return "api" if doc["metadata"]["name"] == DEPLOYMENT else "database"
    for phase, kinds in PHASES:
        if doc["kind"] in kinds:
            return phase
    raise ValueError(f"no apply phase for {doc['kind']}/{doc['metadata']['name']}")


def apply_documents(docs: Sequence[Manifest]) -> None:
    """kubectl apply a list of resources in one call."""
    if docs:
        stream = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)})
        log(kubectl("apply", "-f", "-", stdin=stream).strip().replace("\n", "; "))


def ensure_secret(namespace: str, name: str, generated: dict[str, str]) -> None:
    """Create the Secret with `generated` data once; later add only keys it lacks, never rotate.

    An install made before a key existed (APP_POSTGRES_*: the API's own login) gets it added; a
    value already there (the password the database on the claim uses) is never replaced.
    """
    found = kubectl("get", "secret", name, "-n", namespace, "--ignore-not-found", "-o", "json")
    if not found.strip():
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/part-of": "platform"},
            },
            "type": "Opaque",
            "stringData": generated,
        }
        # Through stdin, so no secret ever appears in a process list.
        kubectl("create", "-f", "-", stdin=json.dumps(secret))
        log(f"secret/{name} created with generated values")
        return
    missing = {k: v for k, v in generated.items() if k not in json.loads(found).get("data", {})}
    if not missing:
        log(f"secret/{name} exists: kept (its values are the ones in use)")
        return
    patch = json.dumps({"stringData": missing})
    kubectl(
        "patch", "secret", name, "-n", namespace, "--type", "merge", "--patch-file", "/dev/stdin",
        stdin=patch,
    )  # fmt: skip
    log(f"secret/{name} exists: added {', '.join(sorted(missing))}, kept the rest")


def ensure_secrets(namespace: str) -> None:
    """The database credentials (migration role and the API's login) and the writers' token."""
    ensure_secret(
        namespace,
        SECRET_NAME,
        {
            "POSTGRES_USER": DATABASE_USER,
            "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
            "APP_POSTGRES_USER": APP_DATABASE_USER,
            "APP_POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        },
    )
    ensure_secret(namespace, TOKEN_SECRET_NAME, {"token": secrets.token_urlsafe(36)})


def wait_for_job(name: str, namespace: str, timeout: float) -> None:
    """Block until the Job completes; fail fast when it fails or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = json.loads(kubectl("get", "job", name, "-n", namespace, "-o", "json"))
        for condition in job.get("status", {}).get("conditions", []):
            if condition["status"] != "True":
                continue
            if condition["type"] == "Complete":
                log(f"job/{name} complete")
                return
            if condition["type"] == "Failed":
                raise RuntimeError(f"job/{name} failed: {condition.get('message', '')}")
        time.sleep(2)
    raise RuntimeError(f"job/{name} not complete after {timeout:.0f}s")


def prune_old_jobs(current: str, namespace: str) -> None:
    """Delete finished migration Jobs of earlier runs (the TTL would, a day later)."""
    names = kubectl(
        "get", "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=migration", "-o", "name"
    ).split()
    for name in names:
        if name != f"job.batch/{current}":
            kubectl("delete", name, "-n", namespace, "--ignore-not-found", "--wait=false")


def rollout_status(resource: str, namespace: str, timeout: float) -> None:
    """Block until a StatefulSet or Deployment has rolled out."""
    kubectl("rollout", "status", resource, "-n", namespace, f"--timeout={timeout:.0f}s")


def apply(docs: list[Manifest], namespace: str, timeout: float) -> None:
    """database -> wait Ready -> migration -> wait Complete -> API -> wait rollout."""
    stamp_checksum(docs)
    by_phase: dict[str, list[Manifest]] = {phase: [] for phase, _ in PHASES}
    for doc in docs:
        by_phase[phase_of(doc)].append(doc)

    apply_documents(by_phase["foundation"])
    ensure_secrets(namespace)

    apply_documents(by_phase["database"])
    log(f"waiting for statefulset/{STATEFULSET} to be Ready")
    rollout_status(f"statefulset/{STATEFULSET}", namespace, timeout)

    job_name = migration_job_name(datetime.now(UTC))
    for job in by_phase["migration"]:
        job["metadata"]["name"] = job_name
    apply_documents(by_phase["migration"])
    log(f"waiting for job/{job_name} to complete")
    wait_for_job(job_name, namespace, timeout)
    prune_old_jobs(job_name, namespace)

    apply_documents(by_phase["api"])
    log(f"waiting for deployment/{DEPLOYMENT} rollout")
    rollout_status(f"deployment/{DEPLOYMENT}", namespace, timeout)
    log("applied: database Ready, migration Complete, API rolled out")


def delete(docs: list[Manifest], namespace: str, delete_namespace: bool) -> None:
    """Remove the API, the migration Jobs, the database, its claims and the Secret."""
    order = [phase for phase, _ in PHASES][::-1]
    for phase in order:
        for doc in docs:
            if doc["kind"] in ("Namespace", "Job") or phase_of(doc) != phase:
                continue
            kind, name = doc["kind"].lower(), doc["metadata"]["name"]
            kubectl("delete", kind, name, "-n", namespace, "--ignore-not-found", "--wait=true")
            log(f"deleted {kind}/{name}")
        if phase == "migration":
            kubectl(
                "delete", "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=migration",
                "--ignore-not-found", "--cascade=foreground",
            )  # fmt: skip
    kubectl(
        "delete", "secret", SECRET_NAME, TOKEN_SECRET_NAME, "-n", namespace, "--ignore-not-found"
    )
    kubectl(
        "delete", "pvc", "-n", namespace, "-l", DATABASE_CLAIMS, "--ignore-not-found", "--wait=true"
    )
    log("deleted the Secrets and the database claims")
    if delete_namespace:
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true")
        log(f"deleted namespace/{namespace}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["apply", "delete", "render"])
    parser.add_argument("--overlay", default=os.environ.get("K8S_OVERLAY", "dev"))
    parser.add_argument("--namespace", default=os.environ.get("K8S_NAMESPACE", BASE_NAMESPACE))
    parser.add_argument("--api-image", default=os.environ.get("API_IMAGE") or None)
    parser.add_argument("--postgres-image", default=os.environ.get("POSTGRES_IMAGE") or None)
    parser.add_argument("--pull-policy", default=os.environ.get("IMAGE_PULL_POLICY") or None)
    timeout = float(os.environ.get("K8S_TIMEOUT", "300"))
    parser.add_argument("--timeout", type=float, default=timeout)
    parser.add_argument(
        "--delete-namespace",
        action="store_true",
        default=os.environ.get("K8S_DELETE_NAMESPACE") == "1",
        help="delete: also delete the namespace (kept by default: it may be someone else's)",
    )
    args = parser.parse_args(argv)
    docs = customise(
        render(args.overlay), args.namespace, args.api_image, args.postgres_image, args.pull_policy
    )
    try:
        if args.action == "render":
            stamp_checksum(docs)
            print(yaml.safe_dump_all(docs, sort_keys=False), end="")
        elif args.action == "apply":
            apply(docs, args.namespace, args.timeout)
        else:
            delete(docs, args.namespace, args.delete_namespace)
    except RuntimeError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
