"""Prometheus metrics: HTTP by route template and status, and the DB pool's state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.db import Pool
from app.readiness import ReadinessMonitor

# Buckets sized for an API whose probes answer in well under a millisecond and whose DB-bound
# requests take a few milliseconds; the long tail shows up in the upper buckets.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# Why a request is cut short (app/guard.py, app/protocol.py). Each series is exported at 0 from
# the start: one that appears only with its first increment shows "no data" and breaks rate().
ABORT_REASONS = ("client disconnected", "deadline", "shutdown")


class HttpMetrics:
    """The request metrics, in a registry of their own so each app (and test) starts at zero."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "http_requests",
            "HTTP requests served, by method, route template and status.",
            ("method", "route", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

        self.aborts = Counter(
            "http_requests_aborted",
            "Requests cut short: by their deadline, their client's disconnect, or a shutdown.",
            ("reason",),
            registry=registry,
        )
        for reason in ABORT_REASONS:
            self.aborts.labels(reason)

    def aborted(self, reason: str) -> None:
        self.aborts.labels(reason).inc()

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)


class PoolCollector(Collector):
    """Reads the pool's counters at scrape time: no bookkeeping on the request path."""

    GAUGES: ClassVar[dict[str, str]] = {
        "pool_size": "Connections currently managed by the pool (in use and idle).",
        "pool_available": "Idle connections ready to be handed out.",
        "requests_waiting": "Requests waiting for a connection.",
        "pool_max": "The pool's configured maximum size.",
    }

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._pool.get_stats()
        for key, doc in self.GAUGES.items():
            yield GaugeMetricFamily(f"db_{key}", doc, value=stats.get(key, 0))


class ReadinessCollector(Collector):
    """The readiness loop's cached verdict and the schema it saw, read at scrape time.

    Alerts can then say "the database is unavailable" from the verdict itself instead of inferring
    it from 503 counts, and the schema revision each pod sees is one query away.
    """

    def __init__(self, readiness: ReadinessMonitor) -> None:
        self._readiness = readiness

    def collect(self) -> Iterator[GaugeMetricFamily]:
        verdict = self._readiness.current()
        yield GaugeMetricFamily(
            "platform_db_ready",
            "1 when the readiness check finds the database answering and the schema compatible.",
            value=1.0 if verdict.ready else 0.0,
        )
        schema = self._readiness.schema
        info = GaugeMetricFamily(
            "platform_schema_info",
            "The schema revision the last successful check read (value always 1).",
            labels=("current", "head", "state"),
        )
        if schema is not None:
            info.add_metric((schema.current or "", schema.head, schema.state.value), 1.0)
        yield info
