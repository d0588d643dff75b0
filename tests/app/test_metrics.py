"""/metrics: the readiness verdict and the schema state, as alerts and dashboards read them."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from localpg import LocalPostgres

from app.main import create_app
from app.metrics import ABORT_REASONS
from app.revisions.window import CodeRevisions
from tests.app.conftest import make_settings
from tests.support import wait_until


def _samples(client: TestClient, name: str) -> dict[str, float]:
    """`{labels: value}` of one metric family in the exposition text."""
    pattern = rf"^{name}(\{{[^}}]*\}})? ([0-9.e+-]+)$"
    return {
        labels or "": float(value)
        for labels, value in re.findall(pattern, client.get("/metrics").text, re.MULTILINE)
    }


def test_every_abort_reason_is_exported_at_zero_before_any_abort(client: TestClient) -> None:
    samples = _samples(client, "http_requests_aborted_total")
    assert samples == {f'{{reason="{reason}"}}': 0.0 for reason in ABORT_REASONS}


def test_a_ready_pod_reports_ready_and_its_schema_at_head(client: TestClient) -> None:
    head = CodeRevisions.load().head
    assert _samples(client, "platform_db_ready") == {"": 1.0}
    info = _samples(client, "platform_schema_info")
    assert info == {f'{{current="{head}",head="{head}",state="at_head"}}': 1.0}


def test_an_unmigrated_database_is_not_ready_and_reports_an_empty_schema(fresh_db: str) -> None:
    app = create_app(make_settings(fresh_db, db_check_interval_seconds=0.1))
    with TestClient(app) as client:
        wait_until(
            lambda: "empty" in client.get("/metrics").text, timeout=10, what="the first verdict"
        )
        assert _samples(client, "platform_db_ready") == {"": 0.0}
        (labels,) = _samples(client, "platform_schema_info")
        assert 'state="empty"' in labels
        assert 'current=""' in labels


def test_readiness_metric_follows_the_database_down_and_up(own_pg: LocalPostgres) -> None:
    app = create_app(make_settings(own_pg.url, db_check_interval_seconds=0.1))
    with TestClient(app) as client:
        wait_until(
            lambda: _samples(client, "platform_db_ready") == {"": 1.0}, timeout=10, what="ready"
        )
        own_pg.stop("immediate")
        wait_until(
            lambda: _samples(client, "platform_db_ready") == {"": 0.0}, timeout=10, what="down"
        )
        # The schema info keeps what the last successful check saw: still one series.
        assert len(_samples(client, "platform_schema_info")) == 1
        own_pg.start()
        wait_until(
            lambda: _samples(client, "platform_db_ready") == {"": 1.0}, timeout=15, what="up"
        )
