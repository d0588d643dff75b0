"""Database modes, credentials and storage: an external database needs its host and Secret, a
generated password survives upgrades, the bundled database keeps its claim."""

from __future__ import annotations

import base64
import re

import pytest

from tests.chart.helm import CHART, RenderError, find, kinds, render

EXTERNAL = {
    "database": {
        "mode": "external",
        "host": "db.example.com",
        "auth": {"existingSecret": "db-creds"},
    }
}


def test_external_mode_renders_no_statefulset_no_secret_and_no_database_services() -> None:
    docs = render(EXTERNAL)
    assert "StatefulSet" not in kinds(docs)
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == ["platform-api-token"]
    services = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "Service"]
    assert services == ["platform-api"]
    assert find(docs, "ConfigMap", "platform-config")["data"]["POSTGRES_HOST"] == "db.example.com"


def test_external_mode_takes_credentials_from_the_existing_secret() -> None:
    docs = render(EXTERNAL)
    (api,) = find(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    refs = {item["valueFrom"]["secretKeyRef"]["name"] for item in api["env"] if "valueFrom" in item}
    assert refs == {"db-creds"}
    (migrate,) = find(docs, "Job")["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "db-creds"}} in migrate["envFrom"]


@pytest.mark.parametrize("missing", ["host", "existingSecret"])
def test_external_mode_without_host_or_secret_is_refused(missing: str) -> None:
    database = {"mode": "external", "host": "db", "auth": {"existingSecret": "s"}}
    if missing == "host":
        database["host"] = ""
    else:
        database["auth"] = {"existingSecret": ""}
    with pytest.raises(RenderError):
        render({"database": database})


def test_a_generated_password_is_long_random_and_alphanumeric() -> None:
    secret = find(render(), "Secret", "platform-db")
    password = base64.b64decode(secret["data"]["POSTGRES_PASSWORD"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", password)


def test_an_explicit_password_is_used_as_given() -> None:
    secret = find(
        render({"database": {"auth": {"password": "s3cret-enough"}}}), "Secret", "platform-db"
    )
    assert base64.b64decode(secret["data"]["POSTGRES_PASSWORD"]) == b"s3cret-enough"


def test_the_generated_password_is_read_back_with_lookup_before_a_new_one_is_made() -> None:
    helpers = "".join(p.read_text() for p in sorted((CHART / "templates").glob("_*.tpl")))
    body = helpers.split('define "platform.databasePassword"')[1].split("{{- end }}\n\n")[0]
    assert body.index('lookup "v1" "Secret"') < body.index("randAlphaNum")
    assert 'lookup "v1" "PersistentVolumeClaim"' in body, "a kept PVC must block a new password"
    data = helpers.split('define "platform.databaseSecretData"')[1].split("{{- end }}")[0]
    assert 'include "platform.databasePassword"' in data
    secrets = (CHART / "templates" / "secret.yaml").read_text()
    assert secrets.count('include "platform.databaseSecretData"') == 1, "one render, two Secrets"


def test_an_existing_secret_replaces_the_chart_secret_for_the_database_too() -> None:
    docs = render({"database": {"auth": {"existingSecret": "db-creds"}}})
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == ["platform-api-token"]
    statefulset = find(docs, "StatefulSet")
    env = statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = {
        item["valueFrom"]["secretKeyRef"]["name"] for item in env if "secretKeyRef" in str(item)
    }
    assert refs == {"db-creds"}


def test_the_bundled_database_keeps_its_claim_and_has_a_headless_service() -> None:
    docs = render()
    statefulset = find(docs, "StatefulSet", "platform-postgres")
    assert statefulset["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    assert statefulset["spec"]["serviceName"] == "platform-postgres-headless"
    headless = find(docs, "Service", "platform-postgres-headless")
    assert headless["spec"]["clusterIP"] == "None"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"


def test_postgres_accepts_connections_only_from_api_migration_and_test_pods() -> None:
    policy = find(render(), "NetworkPolicy", "platform-postgres")
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    (expression,) = peer["podSelector"]["matchExpressions"]
    assert sorted(expression["values"]) == ["api", "migration", "test"]
    assert rule["ports"] == [{"port": "postgres", "protocol": "TCP"}]
