"""Issue 15, drill 6: PostgreSQL 15 -> 17 through the chart, as the runbook says
(docs/runbooks/postgres-major-upgrade.md, "With the chart").

On 15: 500 items, a backup to the PVC target. A `helm upgrade` that would give the StatefulSet
a new claim is refused with the chart's own message (one to 17 is refused too: test_10).
`helm uninstall` keeps both claims; the install on 17 with a new data claim
(`database.bundled.persistence.claimName`) and `restore.from=latest` serves the same rows and
schema revision from a 17 server. The 15 claim is untouched, and the way back (uninstall, install
on 15 with the old claim and its password) serves the data of before.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.kube import Kube
from tests.e2e.backups import (
    DATA_CLAIM,
    INSERT_ITEMS,
    ITEMS,
    POSTGRES,
    api_pod,
    fingerprint,
    install,
    ready,
    restore_install,
    run_backup,
    values,
)
from tests.e2e.calls import api_call, psql, secret_value
from tests.e2e.chart import IMAGES, RELEASE, Helm, deep_merge, helm_for, split_image
from tests.e2e.namespaces import namespace
from tests.e2e.timeline import TIMELINE

pytestmark = pytest.mark.timeout(900)

PVC: dict[str, Any] = {"target": "pvc", "pvc": {"size": "1Gi"}}
NEW_CLAIM_NAME = "data-pg17"
NEW_CLAIM = f"{NEW_CLAIM_NAME}-{POSTGRES}"


@pytest.fixture(scope="module")
def kube(cluster: Kube) -> Iterator[Kube]:
    yield from namespace(cluster, "major")


@pytest.fixture(scope="module")
def helm(helm3: str, kube: Kube) -> Helm:
    return helm_for(helm3, kube, "helm3")


def on_17(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    repository, tag = split_image(IMAGES.postgres_next)
    database = {
        "database": {
            "image": {"repository": repository, "tag": tag},
            "bundled": {"persistence": {"claimName": NEW_CLAIM_NAME}},
        }
    }
    return values(PVC, deep_merge(database, extra or {}))


def server_major(kube: Kube) -> str:
    return psql(kube, POSTGRES, "SHOW server_version_num")[:2]


def claim_uid(kube: Kube, name: str) -> str:
    return str(kube.get("pvc", name)["metadata"]["uid"])


def test_postgresql_15_to_17_by_backup_new_claim_and_restore(kube: Kube, helm: Helm) -> None:
    with TIMELINE.step("major: install on 15, 500 items, backup to the PVC target"):
        install(helm, "install", values(PVC))
        ready(kube)
        psql(kube, POSTGRES, INSERT_ITEMS)
        before = fingerprint(kube)
        old_major = server_major(kube)
        backup = run_backup(kube, "backup-before-major")
    with TIMELINE.step("major: helm upgrade to a new claim -> refused by the chart"):
        new_claim_on_15 = {"database": {"bundled": {"persistence": {"claimName": NEW_CLAIM_NAME}}}}
        refused = helm.deploy("upgrade", "refused", values(PVC, new_claim_on_15), check=False)
        # The generated password of the 15 server: uninstall deletes its Secret (the runbook
        # says to keep it for the way back).
        password = secret_value(kube, "platform-db", "POSTGRES_PASSWORD")
    with TIMELINE.step("major: uninstall (claims kept), install on 17, new claim, restore"):
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        old_claim = claim_uid(kube, DATA_CLAIM)
        started = time.monotonic()
        rto = restore_install(helm, kube, "on-17", on_17())
        after = fingerprint(kube)
        new_major = server_major(kube)
        status, listing = api_call(kube, api_pod(kube), "GET", "/api/v1/items?count=true&limit=1")
        took = time.monotonic() - started
    with TIMELINE.step("major: the way back: uninstall, install on 15 with the old claim"):
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
        kept = claim_uid(kube, DATA_CLAIM)
        old_password = {"database": {"auth": {"password": password}}}
        install(helm, "back-on-15", values(PVC, old_password))
        ready(kube)
        back = fingerprint(kube)
        back_major = server_major(kube)
        helm.run("uninstall", RELEASE, "--wait", "--timeout", "3m")
    sizes = f"{backup['size_bytes']} B / {rto:.1f} s ({took:.1f} s with the checks)"
    TIMELINE.figure("major 15 -> 17: backup size / restore to API serving (RTO)", sizes)
    TIMELINE.figure("major 15 -> 17: helm upgrade to a new claim refused with",
                    refused.stderr.strip()[-160:])  # fmt: skip

    assert before[0] == str(ITEMS)
    assert refused.returncode != 0
    assert "claimName data-pg17 differs from data" in refused.stderr, refused.stderr
    assert (old_major, new_major) == ("15", "17")
    assert after == before
    assert status == 200, listing
    assert listing["count"] == ITEMS
    # The 15 claim is the same object throughout, and still holds the data of before.
    assert kept == old_claim
    assert (back_major, back) == ("15", before)
