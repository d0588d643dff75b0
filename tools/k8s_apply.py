"""Apply or delete the raw manifests (k8s/raw-manifests) in dependency order.

kustomize renders them: the chosen overlay under a throwaway kustomization that sets this run's
namespace, images (by their symbolic names) and pull policy. This script only orders and waits:
foundation (namespace, service account, network policies, the generated ConfigMap) -> credentials
and token Secrets (generated once, never rotated; missing keys added) -> database -> wait Ready ->
migration Job under a new name -> wait Complete -> API -> wait rollout -> the backup CronJob and
its claim -> delete the ConfigMaps of earlier configs. `delete` removes what `apply` created,
claims included.

Usage: python tools/k8s_apply.py apply|delete|render [--overlay dev] [--namespace platform]
Images and the namespace can also come from API_IMAGE, POSTGRES_IMAGE, IMAGE_PULL_POLICY,
K8S_OVERLAY and K8S_NAMESPACE (what `make k8s-apply` passes through).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs; types-PyYAML is not locked

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "k8s" / "raw-manifests" / "overlays"
BASE_NAMESPACE = "platform"
# The Secrets this script creates (kustomize must not invent passwords) and the logins in them.
SECRET_NAME = "platform-db"  # noqa: S105 -- the Secret's name, not a password
TOKEN_SECRET_NAME = "platform-api-token"  # noqa: S105 -- the Secret's name, not a token
DATABASE_USER = "platform"
# The API's login; the migration Job makes it (a member of APP_POSTGRES_GROUP, DML only).
APP_DATABASE_USER = "platform_app_a"
# The base's symbolic image names; every overlay resolves them in `images:`.
API_IMAGE = "platform-api"
POSTGRES_IMAGE = "postgres"
COMPONENT = "app.kubernetes.io/component"
MIGRATIONS = f"{COMPONENT}=migration"
PART_OF = "app.kubernetes.io/part-of=platform"
# Apply order. Foundation kinds depend on nothing; every other resource goes with its component.
FOUNDATION = frozenset({"Namespace", "ServiceAccount", "ConfigMap", "NetworkPolicy"})
PHASES = ("foundation", "database", "migration", "api", "backup")
WORKLOADS = frozenset({"Deployment", "StatefulSet", "Job", "CronJob"})
# kustomize's content-hash suffix: 10 characters of a hex digest with 0, 1, 3, a, e replaced.
HASHED = re.compile(r"(?P<base>.+)-[2456789bcdfghkmt]{10}")

Manifest = dict[str, Any]


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


def load_documents(text: str) -> list[Manifest]:
    """Parse a multi-document YAML stream, skipping empty documents."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def image_entry(name: str, image: str) -> Manifest:
    """A kustomize `images:` entry turning `name` into `image` (name[:tag] or name@digest)."""
    if "@" in image:
        repository, digest = image.split("@", 1)
        return {"name": name, "newName": repository, "digest": digest}
    repository, _, tag = image.rpartition(":")
    if repository and "/" not in tag:  # a colon in the registry's host:port is not a tag
        return {"name": name, "newName": repository, "newTag": tag}
    return {"name": name, "newName": image}


def pod_template_path(workload: Manifest) -> list[str]:
    """Where a workload's pod template is: a CronJob's under its Job template."""
    if workload["kind"] == "CronJob":
        return ["spec", "jobTemplate", "spec", "template"]
    return ["spec", "template"]


def pull_policy_patch(workload: Manifest, policy: str) -> Manifest:
    """A strategic-merge patch setting `policy` on every container of one workload."""
    template = workload
    for key in pod_template_path(workload):
        template = template[key]
    spec = template["spec"]
    lists = {
        key: [{"name": container["name"], "imagePullPolicy": policy} for container in spec[key]]
        for key in ("initContainers", "containers")
        if key in spec
    }
    target = {"kind": workload["kind"], "name": workload["metadata"]["name"]}
    body: Manifest = {"spec": lists}
    for key in reversed(pod_template_path(workload)):
        body = {key: body}
    patch = {
        "apiVersion": workload["apiVersion"],
        "kind": target["kind"],
        "metadata": {"name": target["name"]},
        **body,
    }
    return {"target": target, "patch": json.dumps(patch)}


def build(
    overlay: str, namespace: str, images: dict[str, str | None], pull_policy: str | None = None
) -> str:
    """The overlay as kustomize builds it under a throwaway kustomization with this run's
    namespace, images (set by symbolic name) and pull policy (a patch on each workload)."""
    path = OVERLAYS / overlay
    if not path.is_dir():
        raise SystemExit(f"no overlay {overlay!r} in {OVERLAYS}")
    # An outer layer matches the name the overlay gave each symbolic image.
    resolved = {
        image["name"]: image.get("newName", image["name"])
        for image in yaml.safe_load((path / "kustomization.yaml").read_text()).get("images", [])
    }
    with tempfile.TemporaryDirectory(prefix="k8s-apply-") as tmp:
        settings: Manifest = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(path, tmp)],  # kustomize refuses absolute paths
            "namespace": namespace,
            "images": [
                image_entry(resolved.get(name, name), image)
                for name, image in images.items()
                if image
            ],
        }
        if pull_policy:
            settings["patches"] = [
                pull_policy_patch(doc, pull_policy)
                for doc in load_documents(kubectl("kustomize", str(path)))
                if doc["kind"] in WORKLOADS
            ]
        (Path(tmp) / "kustomization.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        return kubectl("kustomize", tmp)


def phase_of(doc: Manifest) -> str:
    """Which apply phase a resource belongs to: foundation, else its component's."""
    if doc["kind"] in FOUNDATION:
        return "foundation"
    phase = str(doc["metadata"].get("labels", {}).get(COMPONENT))
    if phase not in PHASES:
        raise ValueError(f"no apply phase for {doc['kind']}/{doc['metadata']['name']}")
    return phase


def earlier_configmaps(docs: Sequence[Manifest], found: Iterable[str]) -> list[str]:
    """Of the ConfigMaps `found`, those of the generators in `docs` with another hash, or none
    (the unhashed name of releases before the generator)."""
    current = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "ConfigMap"}
    bases = {match["base"] for name in current if (match := HASHED.fullmatch(name))}
    return sorted(
        name
        for name in set(found) - current
        if name in bases or ((match := HASHED.fullmatch(name)) and match["base"] in bases)
    )


def delete_earlier_configmaps(docs: Sequence[Manifest], namespace: str) -> None:
    """Delete the ConfigMaps of earlier configs, found by the platform's label."""
    found = kubectl("get", "configmaps", "-n", namespace, "-l", PART_OF, "-o", "name").split()
    earlier = earlier_configmaps(docs, [name.removeprefix("configmap/") for name in found])
    if earlier:
        kubectl("delete", "configmap", *earlier, "-n", namespace, "--ignore-not-found")
        log(f"deleted the ConfigMaps of earlier configs: {', '.join(earlier)}")


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


def migration_job_name(name: str, now: datetime) -> str:
    """A new name per run: a Job's pod template is immutable, so each run is a new Job."""
    return f"{name}-{now:%Y%m%d%H%M%S}"


def wait_for_job(name: str, namespace: str, timeout: float) -> None:
    """Block until the Job completes; fail fast when it fails or the deadline passes (`kubectl
    wait` waits for one condition only, so a Failed Job would hold it until the deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = json.loads(kubectl("get", "job", name, "-n", namespace, "-o", "json"))
        true = {
            c["type"]: c
            for c in job.get("status", {}).get("conditions", [])
            if c["status"] == "True"
        }
        if "Complete" in true:
            log(f"job/{name} complete")
            return
        if "Failed" in true:
            raise RuntimeError(f"job/{name} failed: {true['Failed'].get('message', '')}")
        time.sleep(2)
    raise RuntimeError(f"job/{name} not complete after {timeout:.0f}s")


def as_list(docs: Sequence[Manifest]) -> str:
    """Resources as one kubectl List, for one call through stdin."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": list(docs)})


def apply_phase(docs: Sequence[Manifest], namespace: str, timeout: float) -> None:
    """Apply one phase's resources in one call, then wait for its StatefulSets and Deployments."""
    log(kubectl("apply", "-f", "-", stdin=as_list(docs)).strip().replace("\n", "; "))
    for doc in docs:
        if doc["kind"] in ("StatefulSet", "Deployment"):
            resource = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            log(f"waiting for {resource} to roll out")
            kubectl("rollout", "status", resource, "-n", namespace, f"--timeout={timeout:.0f}s")


def apply(docs: list[Manifest], namespace: str, timeout: float) -> None:
    """database -> wait Ready -> migration -> wait Complete -> API -> wait rollout -> prune."""
    phases = {phase: [doc for doc in docs if phase_of(doc) == phase] for phase in PHASES}
    apply_phase(phases["foundation"], namespace, timeout)
    ensure_secrets(namespace)
    apply_phase(phases["database"], namespace, timeout)

    now = datetime.now(UTC)
    jobs = phases["migration"]
    for job in jobs:
        job["metadata"]["name"] = migration_job_name(job["metadata"]["name"], now)
    apply_phase(jobs, namespace, timeout)
    for job in jobs:
        wait_for_job(job["metadata"]["name"], namespace, timeout)
    current = {f"job.batch/{job['metadata']['name']}" for job in jobs}
    for name in kubectl("get", "jobs", "-n", namespace, "-l", MIGRATIONS, "-o", "name").split():
        if name not in current:  # earlier runs (their TTL would delete them a day later)
            kubectl("delete", name, "-n", namespace, "--ignore-not-found", "--wait=false")

    apply_phase(phases["api"], namespace, timeout)
    # The backup CronJob (and its claim): its next run reads the new config.
    apply_phase(phases["backup"], namespace, timeout)
    # Nothing reads them now: the API has rolled out, the CronJob names the new one, earlier
    # Jobs are gone, PostgreSQL reads none.
    delete_earlier_configmaps(docs, namespace)
    log("applied: database Ready, migration Complete, API rolled out, backups scheduled")


def delete(docs: list[Manifest], namespace: str, delete_namespace: bool) -> None:
    """Remove the backups' CronJob and claim, the API, the migration Jobs, the database, the
    ConfigMaps of this and earlier configs, the Secrets and the database claims; the namespace
    only when asked."""
    kubectl(
        "delete", "jobs", "-n", namespace, "-l", MIGRATIONS, "--ignore-not-found",
        "--cascade=foreground",
    )  # fmt: skip
    # The rest in reverse apply order; Jobs went by label (each run has its own name).
    items = [doc for doc in docs if doc["kind"] not in ("Namespace", "Job")]
    items.sort(key=lambda doc: PHASES.index(phase_of(doc)), reverse=True)
    kubectl("delete", "-f", "-", "--ignore-not-found", "--wait=true", stdin=as_list(items))
    log("deleted the API, the migration Jobs, the database and the foundation")
    delete_earlier_configmaps(docs, namespace)
    kubectl(
        "delete", "secret", SECRET_NAME, TOKEN_SECRET_NAME, "-n", namespace, "--ignore-not-found"
    )
    for statefulset in (doc for doc in docs if doc["kind"] == "StatefulSet"):
        for claim in statefulset["spec"].get("volumeClaimTemplates", []):
            labels = ",".join(f"{k}={v}" for k, v in claim["metadata"]["labels"].items())
            kubectl(
                "delete", "pvc", "-n", namespace, "-l", labels, "--ignore-not-found", "--wait=true"
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
    try:
        images = {API_IMAGE: args.api_image, POSTGRES_IMAGE: args.postgres_image}
        rendered = build(args.overlay, args.namespace, images, args.pull_policy)
        if args.action == "render":
            print(rendered, end="")
        elif args.action == "apply":
            apply(load_documents(rendered), args.namespace, args.timeout)
        else:
            delete(load_documents(rendered), args.namespace, args.delete_namespace)
    except RuntimeError as error:
        log(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
