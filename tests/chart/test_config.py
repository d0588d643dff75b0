"""ConfigMap/Secret wiring: envFrom, the API's own login, checksums that roll pods, extraEnv."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.chart.helm import RenderError, containers, find, pod_specs, render, render_text

CONFIG_KEYS = {
    "APP_ENV", "LOG_LEVEL", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_SSLMODE",
    "DB_POOL_MIN_SIZE", "DB_POOL_MAX_SIZE", "DB_POOL_TIMEOUT_SECONDS", "DB_CONNECT_TIMEOUT_SECONDS",
    "DB_CHECK_TIMEOUT_SECONDS", "DB_CHECK_INTERVAL_SECONDS", "DB_STATEMENT_TIMEOUT_SECONDS",
    "DB_LOCK_TIMEOUT_SECONDS", "HTTP_MAX_BODY_BYTES", "HTTP_MAX_HEADER_BYTES",
    "HTTP_HEADER_TIMEOUT_SECONDS", "HTTP_BODY_TIMEOUT_SECONDS", "HTTP_KEEPALIVE_TIMEOUT_SECONDS",
    "REQUEST_TIMEOUT_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS", "MIGRATE_WAIT_TIMEOUT_SECONDS",
    "MIGRATE_LOCK_TIMEOUT_SECONDS", "MIGRATE_DDL_LOCK_TIMEOUT_SECONDS",
    "APP_POSTGRES_GROUP", "APP_POSTGRES_RETIRED_USERS", "API_AUTH_READS",
}  # fmt: skip
# The API's containers read its own login from these keys of the database Secret.
API_LOGIN_ENV = [
    {"name": name, "valueFrom": {"secretKeyRef": {"name": "platform-db", "key": f"APP_{name}"}}}
    for name in ("POSTGRES_USER", "POSTGRES_PASSWORD")
]


def pod_annotations(values: dict[str, Any] | None = None) -> dict[str, str]:
    deployment = find(render(values), "Deployment", "platform-api")
    annotations: dict[str, str] = deployment["spec"]["template"]["metadata"]["annotations"]
    return annotations


def test_the_configmap_holds_exactly_the_documented_non_secret_keys() -> None:
    data = find(render(), "ConfigMap", "platform-config")["data"]
    assert set(data) == CONFIG_KEYS
    assert data["POSTGRES_HOST"] == "platform-postgres"
    assert all(isinstance(value, str) for value in data.values())


def test_the_secret_holds_only_the_credentials() -> None:
    secret = find(render(), "Secret", "platform-db")
    assert set(secret["data"]) == {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "APP_POSTGRES_USER",
        "APP_POSTGRES_PASSWORD",
    }


def test_migration_containers_get_config_and_the_whole_secret_through_envfrom() -> None:
    for where, spec in pod_specs(render(is_upgrade=True)):
        if not where.startswith("Job/"):
            continue
        for container in containers(spec):
            sources = [next(iter(source)) for source in container.get("envFrom", [])]
            assert sources == ["configMapRef", "secretRef"], f"{where}/{container['name']}"


def test_api_containers_get_config_and_only_the_api_login() -> None:
    docs = render(is_upgrade=True)
    deployment = find(docs, "Deployment", "platform-api")["spec"]["template"]["spec"]
    test_pod = find(docs, "Pod", "platform-test")["spec"]
    for container in [*containers(deployment), *test_pod["initContainers"]]:
        assert container["envFrom"] == [{"configMapRef": {"name": "platform-config"}}]
        assert container["env"][:2] == API_LOGIN_ENV, container["name"]


def test_a_config_change_changes_the_config_checksum_and_so_rolls_the_pods() -> None:
    before = pod_annotations()
    after = pod_annotations({"config": {"logLevel": "DEBUG"}})
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/secret"] == after["checksum/secret"]


def test_a_new_api_login_or_token_changes_the_secret_checksum() -> None:
    base = pod_annotations()["checksum/secret"]
    for values in (
        {"database": {"auth": {"app": {"username": "platform_app_b"}}}},
        {"database": {"auth": {"app": {"password": "second-password-456"}}}},
        {"api": {"auth": {"previousToken": "a-previous-token-0123456789"}}},
    ):
        assert pod_annotations(values)["checksum/secret"] != base, values


def test_the_migration_role_and_the_retired_list_do_not_roll_the_api() -> None:
    base = pod_annotations()["checksum/secret"]
    for values in (
        {"database": {"auth": {"password": "owner-password-456"}}},
        {"database": {"auth": {"app": {"retiredUsernames": ["platform_app_b"]}}}},
    ):
        assert pod_annotations(values)["checksum/secret"] == base, values


def test_checksums_are_stable_across_renders_even_with_a_generated_password() -> None:
    checksums = re.compile(r"checksum/\w+: \S+")
    passwords = re.compile(r"POSTGRES_PASSWORD: \S+|token: \S+")
    first, second = render_text(), render_text()
    assert passwords.findall(first) != passwords.findall(second), "expected fresh random passwords"
    assert checksums.findall(first) == checksums.findall(second)


def test_extra_env_may_not_shadow_a_key_injected_by_envfrom() -> None:
    with pytest.raises(RenderError, match="POSTGRES_HOST"):
        render({"extraEnv": [{"name": "POSTGRES_HOST", "value": "elsewhere"}]})


def test_extra_env_and_pod_annotations_reach_the_api_pods() -> None:
    values = {
        "extraEnv": [{"name": "FEATURE_X", "value": "on"}],
        "api": {"podAnnotations": {"example.com/team": "platform"}},
    }
    deployment = find(render(values), "Deployment", "platform-api")
    template = deployment["spec"]["template"]
    assert template["spec"]["containers"][0]["env"][-1] == {"name": "FEATURE_X", "value": "on"}
    assert template["metadata"]["annotations"]["example.com/team"] == "platform"
