"""Image report: the app image against its base and against a bare uvicorn image.

    python tools/image_report.py [--runs N] [--json PATH] [--check]

- size: platform-api vs the Python base it was built on (target: app <= base + 80 MB);
- start: `docker run` -> first `GET /health` 200, median of N runs, vs a bare uvicorn container
  (a one-route ASGI app, same base, same uvicorn version, same flags) measured in the same run
  (target: <= 1.5x). Both run read-only with a tmpfs /tmp; the app gets a real PostgreSQL.

`--check` exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import dockerctl

SIZE_TARGET_MB = 80
START_TARGET_RATIO = 1.5
BASELINE_DOCKERFILE = """\
ARG PYTHON_BASE
FROM ${PYTHON_BASE}
RUN --mount=type=secret,id=ca \\
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \\
    && python3 -m venv /app \\
    && /app/bin/pip install --no-cache-dir --disable-pip-version-check uvicorn==UVICORN_VERSION
COPY asgi.py /app/asgi.py
RUN /app/bin/python -m compileall -q /app
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
EXPOSE 8000
CMD ["/app/bin/uvicorn", "--app-dir", "/app", "--host", "0.0.0.0", "--port", "8000", "asgi:app"]
"""
BASELINE_APP = """\
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""


def locked_version(package: str) -> str:
    lock = tomllib.loads((dockerctl.ROOT / "uv.lock").read_text())
    for entry in lock["package"]:
        if entry["name"] == package:
            return str(entry["version"])
    raise RuntimeError(f"{package} not in uv.lock")


def build_baseline(base: str) -> str:
    version = locked_version("uvicorn")
    tag = f"localhost/platform-uvicorn-baseline:{version}"
    with tempfile.TemporaryDirectory() as context:
        Path(context, "Dockerfile").write_text(
            BASELINE_DOCKERFILE.replace("UVICORN_VERSION", version)
        )
        Path(context, "asgi.py").write_text(BASELINE_APP)
        args = ["build", "-q", "--build-arg", f"PYTHON_BASE={base}", "-t", tag]
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
        if ca.exists():
            args += ["--secret", f"id=ca,src={ca}"]
        proc = dockerctl.docker(*args, context, check=False, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
    return tag


def image_bytes(image: str) -> int:
    size: int = dockerctl.inspect(image, "image")["Size"]
    return size


def time_to_health(image: str, extra: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        name = f"platform-image-report-{secrets.token_hex(4)}"
        port = dockerctl.free_port()
        start = time.monotonic()
        dockerctl.docker(
            "run", "-d", "--name", name, *dockerctl.HARDENED, *extra,
            "-p", f"127.0.0.1:{port}:8000", image,
        )  # fmt: skip
        try:
            dockerctl.wait_for_status(f"http://127.0.0.1:{port}/health", timeout=60, step=0.01)
            times.append(time.monotonic() - start)
        finally:
            dockerctl.remove(name)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()

    image, base = dockerctl.app_image(), dockerctl.python_base()
    baseline = build_baseline(base)
    app_size, base_size = image_bytes(image), image_bytes(base)
    added_mb = (app_size - base_size) / 1e6

    suffix = secrets.token_hex(4)
    network = f"platform-image-report-{suffix}"
    # Start-up to /health only: nothing migrates, so the API's login need not exist.
    db = dockerctl.Database(
        f"platform-image-report-db-{suffix}", network, "platform", secrets.token_hex(8),
        "platform", app_password=secrets.token_hex(8),
    )  # fmt: skip
    dockerctl.docker("network", "create", network)
    try:
        dockerctl.start_postgres(db.container, network, db.user, db.password, db.name)
        app_extra = ["--network", network, *db.app_env()]
        # Alternate, so drift in machine load hits both sides alike.
        app_times: list[float] = []
        base_times: list[float] = []
        for _ in range(args.runs):
            base_times += time_to_health(baseline, ["--network", network], 1)
            app_times += time_to_health(image, app_extra, 1)
    finally:
        dockerctl.remove(db.container)
        dockerctl.docker("network", "rm", network, check=False)

    app_start, base_start = statistics.median(app_times), statistics.median(base_times)
    ratio = app_start / base_start
    report = {
        "image": image,
        "base": base,
        "image_bytes": app_size,
        "base_bytes": base_size,
        "added_mb": round(added_mb, 1),
        "size_target_mb": SIZE_TARGET_MB,
        "size_ok": added_mb <= SIZE_TARGET_MB,
        "baseline": baseline,
        "start_seconds": [round(t, 3) for t in app_times],
        "baseline_start_seconds": [round(t, 3) for t in base_times],
        "start_median_seconds": round(app_start, 3),
        "baseline_start_median_seconds": round(base_start, 3),
        "start_ratio": round(ratio, 2),
        "start_target_ratio": START_TARGET_RATIO,
        "start_ok": ratio <= START_TARGET_RATIO,
    }
    print(f"image      {image}: {app_size / 1e6:.1f} MB")
    print(f"base       {base}: {base_size / 1e6:.1f} MB")
    verdict = "ok" if report["size_ok"] else "MISSED"
    print(f"added      {added_mb:.1f} MB (target <= {SIZE_TARGET_MB} MB: {verdict})")
    print(f"start      docker run -> /health 200, median of {args.runs}: {app_start:.3f} s")
    print(f"baseline   {baseline}: {base_start:.3f} s")
    verdict = "ok" if report["start_ok"] else "MISSED"
    print(f"ratio      {ratio:.2f}x (target <= {START_TARGET_RATIO}x: {verdict})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if args.check and not (report["size_ok"] and report["start_ok"]) else 0


if __name__ == "__main__":
    sys.exit(main())
