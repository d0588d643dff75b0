"""Migration Job modes (docs/decisions/0020): no deadlock, no immutable-field errors, and the
upgrade hook's settings and credentials exist before its Job starts."""

from __future__ import annotations

from typing import Any

from tests.chart.helm import Manifest, find, hook, render

JOB_MODE = {"migration": {"mode": "job"}}


def jobs(docs: list[Manifest]) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == "Job"]


def plain_job_name(values: dict[str, Any]) -> str:
    (job,) = jobs(render(values))
    assert hook(job) is None
    name: str = job["metadata"]["name"]
    return name


def test_hook_mode_install_runs_a_plain_job_because_no_hook_can_see_the_bundled_database() -> None:
    docs = render()
    (job,) = jobs(docs)
    assert hook(job) is None
    assert job["metadata"]["name"].startswith("platform-migration-")
    assert not [doc for doc in docs if hook(doc) not in (None, "test")]


def test_hook_mode_upgrade_runs_a_pre_upgrade_hook_job_replaced_on_each_upgrade() -> None:
    (job,) = jobs(render(is_upgrade=True))
    annotations = job["metadata"]["annotations"]
    assert job["metadata"]["name"] == "platform-migration"
    assert annotations["helm.sh/hook"] == "pre-upgrade"
    policies = annotations["helm.sh/hook-delete-policy"].split(",")
    assert "before-hook-creation" in policies, "a re-run would hit 'field is immutable'"


def test_the_hook_job_credentials_are_hooks_created_before_it() -> None:
    docs = render(is_upgrade=True)
    job = find(docs, "Job", "platform-migration")
    weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
    pod = job["spec"]["template"]["spec"]
    for container in pod["containers"]:
        refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
        assert refs == {"platform-migration"}
    for kind in ("ConfigMap", "Secret"):
        credentials = find(docs, kind, "platform-migration")
        assert hook(credentials) == "pre-upgrade"
        assert int(credentials["metadata"]["annotations"]["helm.sh/hook-weight"]) < weight


def test_the_hook_job_uses_an_existing_secret_directly() -> None:
    docs = render({"database": {"auth": {"existingSecret": "db-creds"}}}, is_upgrade=True)
    job = find(docs, "Job", "platform-migration")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "db-creds"}} in migrate["envFrom"]
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == ["platform-api-token"]


def test_job_mode_renders_a_plain_job_on_install_and_upgrade_and_no_hooks() -> None:
    for is_upgrade in (False, True):
        docs = render(JOB_MODE, is_upgrade=is_upgrade)
        (job,) = jobs(docs)
        assert hook(job) is None
        assert [hook(doc) for doc in docs if hook(doc)] == ["test"]


def test_job_mode_job_name_changes_with_the_image_and_only_with_it() -> None:
    base = plain_job_name(JOB_MODE)
    assert base == plain_job_name({**JOB_MODE, "config": {"logLevel": "DEBUG"}})
    assert base != plain_job_name({**JOB_MODE, "image": {"tag": "2.0.0"}})
    digest = "sha256:" + "a" * 64
    assert base != plain_job_name({**JOB_MODE, "image": {"digest": digest}})
    rerun = {"migration": {"mode": "job", "runId": "again"}}
    assert base != plain_job_name(rerun)
    assert len(base) <= 63


def test_the_migration_waits_for_postgres_with_pg_isready_then_upgrades() -> None:
    (job,) = jobs(render())
    spec = job["spec"]["template"]["spec"]
    (wait,) = spec["initContainers"]
    assert wait["image"].startswith("postgres:")
    assert "pg_isready" in wait["command"][-1]
    (migrate,) = spec["containers"]
    assert migrate["command"] == ["platform-migrate", "upgrade"]
    assert spec["restartPolicy"] == "Never"
    assert 1 <= job["spec"]["backoffLimit"] <= 5, "a killed migration pod must be retried"
    assert job["spec"]["activeDeadlineSeconds"] > 0


def test_the_image_digest_wins_over_the_tag() -> None:
    digest = "sha256:" + "b" * 64
    deployment = find(render({"image": {"tag": "9.9.9", "digest": digest}}), "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"platform-api@{digest}"
    )


def test_the_image_tag_defaults_to_the_app_version() -> None:
    deployment = find(render(), "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "platform-api:1.0.0"
