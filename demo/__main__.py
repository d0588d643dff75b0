"""`make demo` (up) and `make demo-down` (down).

up: Docker engine, base images, app image, the test cluster (built, started, images loaded),
`helm install`, the wait for the final state, `kubectl get pods`, then a port-forward to the API
until Ctrl-C. down: the release, its namespace, the test cluster (demo/steps.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request

from demo import platform
from demo.cluster import Target, target
from demo.progress import StepFailed, elapsed, say
from demo.steps import LOGS, ROOT, Down, Settings, Up, output, run_steps

FORWARD_SECONDS = 30


def settings() -> Settings:
    """From what `make demo` exports (mk/image.mk, mk/cluster.mk) and DEMO_PORT."""
    port = os.environ.get("DEMO_PORT", "8080")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"DEMO_PORT must be a TCP port number, got {port!r}")
    return Settings(
        api_image=os.environ["IMAGE"],
        postgres_image=os.environ["POSTGRES_IMAGE"],
        python_base=os.environ.get("PYTHON_BASE", ""),
        nodes=os.environ.get("NODES", "3"),
        port=int(port),
    )


def guide(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    secret = f"kubectl -n {platform.NAMESPACE} get secret {platform.TOKEN_SECRET}"
    write = (
        f"""curl -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' """
        f"""-d '{{"name": "first"}}' {base}/api/v1/items"""
    )
    return "\n".join(
        [
            f"Open (kubectl port-forward svc/{platform.API_SERVICE} {port}:80):",
            f"  {base}/          the service's name and version",
            f"  {base}/health    liveness: the process serves",
            f"  {base}/db-check  readiness: the database answers and the schema fits",
            f"  {base}/docs      the API's OpenAPI page",
            "Write an item (writers send the token from the chart's Secret), then read them:",
            f"  TOKEN=$({secret} -o jsonpath='{{.data.token}}' | base64 -d)",
            f"  {write}",
            f"  curl {base}/api/v1/items",
            "Ctrl-C stops the port-forward; the release keeps running until `make demo-down`.",
        ]
    )


def _serves(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def serve(cluster: Target, port: int) -> int:
    """The port-forward in the foreground until Ctrl-C (0), or until it ends by itself (1)."""
    # A process started from a non-interactive shell's `&` (some CI runners) inherits SIGINT
    # ignored, and Python then raises no KeyboardInterrupt: Ctrl-C would end only kubectl.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    kubectl = platform.Kubectl(cluster.kubeconfig)
    say(output(*kubectl.argv("get", "pods")))
    forward = subprocess.Popen(
        kubectl.argv("port-forward", f"svc/{platform.API_SERVICE}", f"{port}:80"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + FORWARD_SECONDS
        while not _serves(port):
            if forward.poll() is not None or time.monotonic() > deadline:
                forward.terminate()
                why = (forward.communicate()[1] or "no answer").strip().splitlines()[-1]
                say(f"the port-forward did not serve /health on port {port}: {why}")
                say("  is the port taken? choose another: make demo DEMO_PORT=8081")
                return 1
            time.sleep(0.5)
        say(guide(port))
        code = forward.wait()
        say(f"the port-forward ended by itself (exit {code}); `make demo` starts it again")
        return 1
    except KeyboardInterrupt:
        forward.send_signal(signal.SIGINT)
        forward.wait(timeout=10)
        say("port-forward stopped; the release keeps running (`make demo-down` removes it)")
        return 0


def up() -> int:
    config = settings()
    cluster = target(ROOT)
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    where = "the project's test cluster" if cluster.own else f"context {cluster.context!r}"
    say(f"make demo: the platform on {where}; each step's log is in {LOGS.relative_to(ROOT)}/")
    try:
        run_steps(Up(config, cluster).steps())
    except StepFailed:
        return 1
    say(f"make demo: the final state in {elapsed(time.monotonic() - started)}")
    return serve(cluster, config.port)


def down() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    try:
        run_steps(Down(target(ROOT)).steps())
    except StepFailed:
        return 1
    say("make demo-down: done (built images and caches stay, for a warm next `make demo`)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="demo", description=__doc__)
    parser.add_argument("command", choices=("up", "down"))
    return up() if parser.parse_args().command == "up" else down()


if __name__ == "__main__":
    sys.exit(main())
