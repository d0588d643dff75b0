"""Security checks of one namespace: restricted pod specs, enforcement, live uid and read-only
root, and no Secret value in any ConfigMap or container log."""

from __future__ import annotations

import base64
import json

from tests.cluster.kube import Kube
from tests.e2e.chart import IMAGES
from tests.e2e.namespaces import RESTRICTED


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
