"""The chart runs app/backup/pgtools.py's argv verbatim (ADR 0012), as the backup tests do."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.backup import pgtools
from tests.chart.helm import Manifest, find, render

WORK = Path("/work")


def test_the_backup_init_containers_run_pgtools_dump_commands_in_order() -> None:
    cronjob = find(render({"backup": {"enabled": True}}), "CronJob", "platform-backup")
    pod: Manifest = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    # After the bounded wait for the database (test_backup.py).
    wait, *dump = pod["initContainers"]
    rendered = [container["command"] for container in dump]
    assert wait["name"] == "wait-for-database"
    assert rendered == pgtools.dump_commands(WORK)


@pytest.mark.parametrize("force", [False, True])
def test_the_restore_runs_pgtools_restore_command(force: bool) -> None:
    docs = render({"restore": {"from": "latest", "force": force}})
    (job,) = [doc for doc in docs if doc["kind"] == "Job"]
    restore = {c["name"]: c for c in job["spec"]["template"]["spec"]["initContainers"]}["restore"]
    # The kubelet expands $(POSTGRES_DB) from the ConfigMap injected with envFrom.
    assert restore["command"] == pgtools.restore_command(WORK, "$(POSTGRES_DB)", force=force)
