"""External mode against a PostgreSQL that accepts TLS logins only, with certificates this test
makes: `sslmode=verify-full` with the CA from a Secret, a migration role that is not a superuser
(CREATEROLE, owns the database) making the API's login, and no plaintext session at all.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.certs import make_certificates
from tests.cluster.kube import Kube
from tests.e2e.calls import api_call, api_token, database_logins, psql
from tests.e2e.chart import BUILD, IMAGES, RELEASE, Helm, chart_values, helm_for, split_image
from tests.e2e.namespaces import namespace
from tests.e2e.pods import ready_api_pods, wait_for
from tests.e2e.timeline import TIMELINE

API = "app.kubernetes.io/instance=platform,app.kubernetes.io/component=api"
SERVER = "pg-tls"
SERVER_POD = f"{SERVER}-0"
MIGRATOR_PASSWORD = secrets.token_hex(16)
# Run once by the image's entrypoint on the empty data directory: TLS-only logins, and the
# migration role a managed service would hand out (owns the database, may create roles).
INIT_SCRIPT = f"""
printf 'local all all trust\\nhostssl all all all scram-sha-256\\n' > "$PGDATA/pg_hba.conf"
"${{psql[@]}}" --dbname postgres <<'SQL'
CREATE ROLE migrator LOGIN CREATEROLE PASSWORD '{MIGRATOR_PASSWORD}';
CREATE DATABASE platform OWNER migrator;
SQL
"""


def b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def server_objects(certs_dir: Path) -> list[dict[str, Any]]:
    """Secrets (server certificate, CA, credentials), init script, the server and its Service."""
    certs = make_certificates(certs_dir, SERVER)
    restricted = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 999,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    labels = {"app": SERVER}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pg-tls-server"},
         "data": {"tls.crt": b64(certs.cert.read_bytes()), "tls.key": b64(certs.key.read_bytes())}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-ca"},
         "data": {"ca.crt": b64(certs.ca.read_bytes())}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}, "data": {
            "POSTGRES_USER": b64("migrator"), "POSTGRES_PASSWORD": b64(MIGRATOR_PASSWORD),
            "APP_POSTGRES_USER": b64("platform_app_a"),
            "APP_POSTGRES_PASSWORD": b64(secrets.token_hex(16)),
        }},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pg-tls-init"},
         "data": {"tls-only.sh": INIT_SCRIPT}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": SERVER},
         "spec": {"selector": labels, "ports": [{"name": "postgres", "port": 5432}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": SERVER},
         "spec": {"serviceName": SERVER, "replicas": 1, "selector": {"matchLabels": labels},
          "template": {"metadata": {"labels": labels}, "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 999, "runAsGroup": 999,
                                "fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "postgres",
                "image": IMAGES.postgres,
                "imagePullPolicy": IMAGES.pull_policy,
                "args": ["postgres", "-c", "ssl=on", "-c", "ssl_cert_file=/tls/tls.crt",
                         "-c", "ssl_key_file=/tls/tls.key"],
                "env": [{"name": "POSTGRES_USER", "value": "dba"},
                        {"name": "POSTGRES_PASSWORD", "value": secrets.token_hex(16)},
                        {"name": "POSTGRES_DB", "value": "postgres"},
                        {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"}],
                "ports": [{"name": "postgres", "containerPort": 5432}],
                "readinessProbe": {"exec": {"command": ["pg_isready", "-h", "127.0.0.1"]},
                                   "periodSeconds": 2},
                "securityContext": restricted,
                "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                              "limits": {"cpu": "1", "memory": "512Mi"}},
                "volumeMounts": [
                    {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                    {"name": "run", "mountPath": "/var/run/postgresql"},
                    {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
                    {"name": "tls", "mountPath": "/tls", "readOnly": True},
                    {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
                ],
            }],
            "volumes": [
                {"name": "data", "emptyDir": {}},
                {"name": "run", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
                # Owned by root and group-readable (fsGroup): what PostgreSQL accepts for a key.
                {"name": "tls", "secret": {"secretName": "pg-tls-server", "defaultMode": 0o640}},
                {"name": "init", "configMap": {"name": "pg-tls-init"}},
            ],
          }}}},
    ]  # fmt: skip


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "external")


@pytest.fixture(scope="module")
def helm(helm4: str, kube: Kube) -> Helm:
    return helm_for(helm4, kube, "helm4")


def test_verify_full_against_a_tls_only_server_with_a_createrole_migration_role(
    kube: Kube, helm: Helm
) -> None:
    with TIMELINE.step("external: a TLS-only PostgreSQL with test-made certificates") as step:
        kube.apply(*server_objects(BUILD / f"{kube.namespace}-certs"))
        kube.wait("condition=Ready", f"pod/{SERVER_POD}", timeout=180)
        step.note = "hostssl only; migrator: CREATEROLE, owns database platform"
    pg_repository, pg_tag = split_image(IMAGES.postgres)
    values = chart_values(IMAGES.old, {
        "migration": {"mode": "job"},
        "database": {
            "mode": "external", "host": SERVER, "sslMode": "verify-full",
            "tls": {"caSecret": "db-ca"}, "auth": {"existingSecret": "db-creds"},
            "image": {"repository": pg_repository, "tag": pg_tag},
        },
    })  # fmt: skip
    with TIMELINE.step("external: helm4 install --wait (job mode, verify-full)") as step:
        started = time.monotonic()
        helm.deploy("install", "external", values, "--wait", "--timeout", "5m")
        (pod, *_) = ready_api_pods(kube, API, 2)
        step.note = f"all Ready {time.monotonic() - started:.1f} s"
    with TIMELINE.step("external: every session TLS, the API on its own login, writes") as step:
        name = pod["metadata"]["name"]
        status, _ = api_call(kube, name, "POST", "/api/v1/items", {"name": "tls"},
                             token=api_token(kube))  # fmt: skip
        assert status == 201
        sessions = psql(
            kube, SERVER_POD,
            "SELECT count(*) || ':' || bool_and(s.ssl) FROM pg_stat_ssl s "
            "JOIN pg_stat_activity a USING (pid) WHERE a.client_addr IS NOT NULL",
        )  # fmt: skip
        count, all_tls = sessions.split(":")
        assert int(count) >= 2, sessions
        assert all_tls == "true", sessions  # boolean || text: 'true', not psql's 't'
        wait_for(lambda: database_logins(kube, SERVER_POD) == {"platform_app_a:false"},
                 "the API on platform_app_a")  # fmt: skip
        # --logs: a failed test pod's own output lands in the assertion (a flake once, no log).
        out = helm.run("test", RELEASE, "--timeout", "3m", "--logs")
        assert "Succeeded" in out, out
        step.note = f"{count} sessions, all TLS; helm test passed"
    with TIMELINE.step("external: uninstall"):
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
