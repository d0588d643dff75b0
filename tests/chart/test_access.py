"""Access in the chart: the API's own login, its bearer tokens, TLS to an external database."""

from __future__ import annotations

import base64
import re
import subprocess
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs; types-PyYAML is not locked

from tests.chart.helm import (
    BIN,
    NAMESPACE,
    RELEASE,
    ROOT,
    Manifest,
    RenderError,
    containers,
    find,
    pod_specs,
    render,
)
from tests.e2e.chart import baseline_commit

EXTERNAL = {
    "database": {"mode": "external", "host": "db.example.com", "auth": {"existingSecret": "db"}}
}
VERIFY_FULL = {
    "database": {
        **EXTERNAL["database"],
        "sslMode": "verify-full",
        "tls": {"caSecret": "db-ca", "caKey": "root.pem"},
    }
}


def api_containers(docs: list[Manifest]) -> list[Manifest]:
    deployment = find(docs, "Deployment", "platform-api")["spec"]["template"]["spec"]
    test_pod = find(docs, "Pod", "platform-test")["spec"]
    return [*containers(deployment), *test_pod["initContainers"]]


def test_no_api_container_gets_the_migration_roles_credentials() -> None:
    for values in ({}, EXTERNAL):
        docs = render(values)
        secret = "db" if values else "platform-db"
        for container in api_containers(docs):
            where = container["name"]
            assert {"secretRef": {"name": secret}} not in container.get("envFrom", []), where
            env = {item["name"]: item for item in container["env"]}
            for name in ("POSTGRES_USER", "POSTGRES_PASSWORD"):
                ref = env[name]["valueFrom"]["secretKeyRef"]
                assert ref == {"name": secret, "key": f"APP_{name}"}, where


def test_the_api_login_is_a_generated_member_of_the_group_not_the_migration_role() -> None:
    docs = render()
    data = {
        k: base64.b64decode(v).decode()
        for k, v in find(docs, "Secret", "platform-db")["data"].items()
    }
    assert data["POSTGRES_USER"] == "platform"
    assert data["APP_POSTGRES_USER"] == "platform_app_a"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", data["APP_POSTGRES_PASSWORD"])
    assert data["APP_POSTGRES_PASSWORD"] != data["POSTGRES_PASSWORD"]
    config = find(docs, "ConfigMap", "platform-config")["data"]
    assert config["APP_POSTGRES_GROUP"] == "platform_app"
    assert config["APP_POSTGRES_RETIRED_USERS"] == ""


def test_the_hook_secret_carries_the_same_generated_passwords_as_the_release_secret() -> None:
    docs = render(is_upgrade=True)
    release = find(docs, "Secret", "platform-db")["data"]
    hook = find(docs, "Secret", "platform-migration")["data"]
    assert release == hook


@pytest.mark.parametrize(
    ("values", "mode"),
    [
        ({}, "disable"),
        (EXTERNAL, "require"),
        ({"database": {"sslMode": "verify-ca", "tls": {"caSecret": "x"}}}, "verify-ca"),
    ],
)
def test_sslmode_is_require_for_an_external_database_unless_set(
    values: dict[str, Any], mode: str
) -> None:
    assert find(render(values), "ConfigMap", "platform-config")["data"]["POSTGRES_SSLMODE"] == mode


def test_verify_full_mounts_the_ca_in_every_pod_that_connects() -> None:
    docs = render(VERIFY_FULL, is_upgrade=True)
    config = find(docs, "ConfigMap", "platform-config")["data"]
    path = config["PGSSLROOTCERT"]
    assert path == "/var/run/secrets/platform/database-ca/ca.crt"
    checked = 0
    for where, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert volumes["database-ca"]["secret"] == {
            "secretName": "db-ca",
            "items": [{"key": "root.pem", "path": "ca.crt"}],
        }, where
        for container in containers(spec):
            if container["name"] == "http":  # helm test's HTTP client never meets the database
                continue
            mounts = {m["name"]: m for m in container.get("volumeMounts", [])}
            assert mounts["database-ca"]["mountPath"] == str(Path(path).parent), where
            assert mounts["database-ca"]["readOnly"] is True
            checked += 1
    assert checked == 5  # api + wait-for-schema, hook Job migrate + wait-for-postgres, check


def test_verify_full_without_a_ca_is_refused() -> None:
    values = {"database": {**EXTERNAL["database"], "sslMode": "verify-full"}}
    with pytest.raises(RenderError, match=re.escape("database.tls.caSecret")):
        render(values)


def test_the_token_secret_is_generated_and_mounted_where_the_api_reads_it() -> None:
    docs = render()
    secret = find(docs, "Secret", "platform-api-token")
    assert set(secret["data"]) == {"token"}
    assert re.fullmatch(r"[A-Za-z0-9]{48}", base64.b64decode(secret["data"]["token"]).decode())
    spec = find(docs, "Deployment", "platform-api")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "api-tokens")
    assert volume["secret"] == {"secretName": "platform-api-token", "defaultMode": 0o440}
    (api,) = spec["containers"]
    mount = next(m for m in api["volumeMounts"] if m["name"] == "api-tokens")
    env = {item["name"]: item.get("value") for item in api["env"]}
    assert env["API_TOKENS_DIR"] == mount["mountPath"]
    assert mount["readOnly"] is True


def test_a_rotation_overlap_adds_the_previous_token_and_an_existing_secret_replaces_ours() -> None:
    values = {
        "api": {"auth": {"token": "new-token-0123456789", "previousToken": "old-token-0123456789"}}
    }
    data = find(render(values), "Secret", "platform-api-token")["data"]
    assert {k: base64.b64decode(v).decode() for k, v in data.items()} == {
        "token": "new-token-0123456789",
        "previous": "old-token-0123456789",
    }
    docs = render({"api": {"auth": {"existingSecret": "writers"}}})
    assert "platform-api-token" not in {d["metadata"]["name"] for d in docs}
    spec = find(docs, "Deployment", "platform-api")["spec"]["template"]["spec"]
    assert {
        "name": "api-tokens",
        "secret": {"secretName": "writers", "defaultMode": 0o440},
    } in spec["volumes"]
    test_env = find(docs, "Pod", "platform-test")["spec"]["containers"][0]["env"]
    assert test_env[1]["valueFrom"]["secretKeyRef"] == {"name": "writers", "key": "token"}


@pytest.mark.parametrize("token", ["short", "x" * 15])
def test_a_short_token_is_refused_by_the_schema(token: str) -> None:
    with pytest.raises(RenderError, match="token"):
        render({"api": {"auth": {"token": token}}})


def job_name(values: dict[str, Any]) -> str:
    (job,) = [d for d in render({"migration": {"mode": "job"}, **values}) if d["kind"] == "Job"]
    return str(job["metadata"]["name"])


def test_job_mode_reruns_the_migration_when_the_login_or_the_retired_list_changes() -> None:
    base = job_name({})
    app = {"database": {"auth": {"app": {"username": "platform_app_b"}}}}
    retired = {"database": {"auth": {"app": {"retiredUsernames": ["platform_app_b"]}}}}
    assert job_name(app) != base
    assert job_name(retired) not in (base, job_name(app))
    assert job_name({}) == base


@pytest.mark.parametrize(
    ("app", "message"),
    [
        ({"retiredUsernames": ["platform_app_a"]}, "also in database.auth.app.retiredUsernames"),
        ({"username": "platform"}, "must differ"),
        ({"username": "Robert'); DROP"}, "username"),
    ],
)
def test_unsafe_login_values_are_refused(app: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=re.escape(message)):
        render({"database": {"auth": {"app": app}}})


def test_upgrading_from_the_baseline_changes_the_database_pod_only_by_its_release_labels() -> None:
    """The StatefulSet's pod template must not change: a change restarts PostgreSQL mid-upgrade.
    One intended exception: chart 0.2.0 takes the labels a chart release changes off the pod
    templates (helm.sh/chart, app.kubernetes.io/version), one restart so later releases need
    none (tests/chart/test_release.py, tests/e2e/test_6_upgrade_from_baseline.py)."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", baseline_commit(), "k8s/helm/platform"],
        capture_output=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        old = subprocess.run(
            [str(BIN / "helm"), "template", RELEASE, f"{tmp}/k8s/helm/platform", "-n", NAMESPACE],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    (before,) = [d for d in yaml.safe_load_all(old) if d and d["kind"] == "StatefulSet"]
    after = find(render(), "StatefulSet", "platform-postgres")
    labels = before["spec"]["template"]["metadata"]["labels"]
    assert labels.pop("helm.sh/chart") == "platform-0.1.0"
    assert labels.pop("app.kubernetes.io/version") == "1.0.0"
    assert after["spec"] == before["spec"]
