"""Which pods a Service sends traffic to, at every instant: a watch on its EndpointSlices.

kube-proxy routes new connections to the Ready endpoints of a Service's EndpointSlices, so the
Ready set over time is what the drills assert on (the minimum during a drain, when a lost pod
left). `kubectl get --watch` streams every change (a poll could miss a short dip); a thread
parses the stream and records each Ready set with the time it took effect.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from dataclasses import dataclass, field

from tests.cluster.kube import Kube
from tests.e2e.chart import Obj
from tests.e2e.pods import wait_for


def ready_pods(endpoint_slice: Obj) -> set[str]:
    """Pods behind the slice's Ready endpoints (an unset `ready` means ready, per the API)."""
    return {
        endpoint["targetRef"]["name"]
        for endpoint in endpoint_slice.get("endpoints") or []
        if endpoint.get("conditions", {}).get("ready") is not False and endpoint.get("targetRef")
    }


@dataclass
class EndpointWatch:
    kube: Kube
    service: str
    # (wall-clock time, Ready pods from then on), in order; the first entry is the initial state.
    history: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    _slices: dict[str, set[str]] = field(default_factory=dict)
    _process: subprocess.Popen[str] | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> EndpointWatch:
        args = (
            "get", "endpointslices", "-l", f"kubernetes.io/service-name={self.service}",
            "--watch", "--output-watch-events", "-o", "json",
        )  # fmt: skip
        self._process = subprocess.Popen(
            self.kube.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        wait_for(lambda: self.history, f"the EndpointSlices of {self.service}", timeout=30)
        return self

    def _read(self) -> None:
        assert self._process
        assert self._process.stdout
        decoder, buffer = json.JSONDecoder(), ""
        for line in self._process.stdout:
            buffer += line
            while buffer.strip():
                try:
                    event, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break  # an incomplete object: read on
                buffer = buffer.lstrip()[end:]
                self._apply(event)

    def _apply(self, event: Obj) -> None:
        endpoint_slice = event["object"]
        name = endpoint_slice["metadata"]["name"]
        with self._lock:
            if event["type"] == "DELETED":
                self._slices.pop(name, None)
            else:
                self._slices[name] = ready_pods(endpoint_slice)
            current = frozenset().union(*self._slices.values())
            if not self.history or self.history[-1][1] != current:
                self.history.append((time.time(), current))

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def now(self) -> frozenset[str]:
        with self._lock:
            return self.history[-1][1]

    def minimum(self, since: float, until: float) -> int:
        """The fewest Ready pods in effect at any instant of [since, until]."""
        with self._lock:
            history = list(self.history)
        in_effect = [pods for at, pods in history if at <= since][-1:]
        in_effect += [pods for at, pods in history if since < at <= until]
        return min(len(pods) for pods in in_effect)

    def left_at(self, pod: str, since: float) -> float | None:
        """When `pod` stopped being a Ready endpoint after `since` (None: it still is)."""
        with self._lock:
            history = list(self.history)
        for at, pods in history:
            if at >= since and pod not in pods:
                return at
        return None

    def changes(self, since: float) -> list[str]:
        """The Ready sets after `since`, as `+t s: n ready` lines for the timeline."""
        with self._lock:
            history = list(self.history)
        return [f"+{at - since:.1f} s: {len(pods)}" for at, pods in history if at >= since]
