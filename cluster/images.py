"""Go builds and the harness's own container images, written without a registry or docker.

An image here is a `docker save`-format tar (one layer) that `ctr images import` reads; the
layer holds a static binary or two, so nothing needs a base image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from cluster import config
from cluster.config import Paths
from cluster.system import log

BUSYBOX_APPLETS = (
    "sh",
    "cat",
    "echo",
    "env",
    "hostname",
    "httpd",
    "id",
    "ls",
    "mkdir",
    "nc",
    "nslookup",
    "ps",
    "rm",
    "sleep",
    "test",
    "touch",
    "true",
    "false",
    "grep",
    "date",
    "uname",
)


def go() -> str:
    """The Go toolchain: PATH first, then the machine's /usr/local/go."""
    found = shutil.which("go") or "/usr/local/go/bin/go"
    if not Path(found).exists():
        raise RuntimeError("no Go toolchain: install Go 1.26 (the pinned modules need it)")
    return found


def _digest(files: list[Path]) -> str:
    sha = hashlib.sha256()
    for f in files:
        sha.update(f.name.encode() + b"\0" + f.read_bytes())
    return sha.hexdigest()


@dataclass(frozen=True)
class GoTarget:
    """One binary: its module, its package (whose .go files and the module's go.mod/go.sum
    decide staleness), and link flags."""

    name: str
    module: Path
    package: str
    ldflags: str = "-s -w"
    # False: a static binary, as images without a libc need; None: Go's default (on with a C
    # compiler): for the host and the worker nodes, whose Debian is the host's release.
    cgo: bool | None = False
    # Build tags (a stamp of their own: the same sources with other tags are another binary).
    tags: tuple[str, ...] = ()


def _build(paths: Paths, target: GoTarget) -> bool:
    """`go build` into .cluster/bin/NAME unless a build from the same sources is there."""
    out = paths.bin / target.name
    stamp = paths.bin / f"{target.name}.sources"
    sources = sorted((target.module / target.package).glob("*.go"))
    files = [target.module / "go.mod", target.module / "go.sum", *sources]
    digest = _digest(files) + "".join(f" {tag}" for tag in target.tags)
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return False
    paths.bin.mkdir(parents=True, exist_ok=True)
    log(f"building {target.name} (go build {target.package}; minutes when the caches are cold)")
    env = dict(os.environ)
    if target.cgo is not None:
        env["CGO_ENABLED"] = "1" if target.cgo else "0"
    # nice: the machine's two cores are shared with other builds and test runs.
    argv = ["nice", "-n", "10", go(), "-C", str(target.module), "build", "-buildvcs=false"]
    argv += ["-o", str(out)]
    if target.tags:
        argv += ["-tags", ",".join(target.tags)]
    result = subprocess.run(
        [*argv, "-ldflags", target.ldflags, target.package], env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"go build {target.package} exited {result.returncode}")
    stamp.write_text(digest)
    return True


def kube_ldflags() -> str:
    """Version stamps upstream's build sets, so components report the pinned release."""
    major, minor = config.KUBERNETES_VERSION.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [
            "-s -w",
            f"-X {pkg}.gitVersion={config.KUBERNETES_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    )


KUBE_ROUTER_PACKAGE = "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
KUBE_STATE_METRICS_PACKAGE = "k8s.io/kube-state-metrics/v2"
PROMETHEUS_PACKAGE = "github.com/prometheus/prometheus/cmd/prometheus"
# Only the Kubernetes service discovery (upstream's own build tags): the e2e's Prometheus needs
# nothing else, and the other SDs' cloud SDKs are most of the build.
PROMETHEUS_TAGS = ("remove_all_sd", "enable_kubernetes_sd")


def kube_router_ldflags() -> str:
    """The version stamp upstream's Makefile sets (kube-router logs and checks it at start)."""
    pkg = "github.com/cloudnativelabs/kube-router/v2/pkg/version"
    return f"-s -w -X {pkg}.Version={config.KUBE_ROUTER_VERSION} -X {pkg}.BuildDate=1970-01-01"


def prometheus_common_ldflags(version: str) -> str:
    """The version stamp the Makefiles of Prometheus-ecosystem projects set (their build_info
    metric and --version): kube-state-metrics and Prometheus alike."""
    return f"-s -w -X github.com/prometheus/common/version.Version={version}"


def go_targets(paths: Paths) -> list[GoTarget]:
    module = paths.go_module
    return [
        GoTarget("kube", module, "./cmd/kube", kube_ldflags(), cgo=None),
        GoTarget("pause", module, "./cmd/pause"),
        GoTarget("coredns", module / "coredns", "."),
        # Upstream's own command, built from the pinned module (a `tool` of cluster/go/kube-router).
        GoTarget("kube-router", module / "kube-router", KUBE_ROUTER_PACKAGE, kube_router_ldflags()),
        GoTarget(
            "kube-state-metrics",
            module / "kube-state-metrics",
            KUBE_STATE_METRICS_PACKAGE,
            prometheus_common_ldflags(config.KUBE_STATE_METRICS_VERSION),
        ),
        # Not a daemon of the cluster: the monitoring e2e starts it (tests/e2e/prometheus.py).
        GoTarget(
            "prometheus",
            module / "prometheus",
            PROMETHEUS_PACKAGE,
            prometheus_common_ldflags(config.PROMETHEUS_VERSION),
            tags=PROMETHEUS_TAGS,
        ),
    ]


def build_binaries(paths: Paths) -> None:
    """The multi-call Kubernetes binary, pause, CoreDNS, kube-router, kube-state-metrics and the
    e2e's Prometheus; each only when missing or stale."""
    for target in go_targets(paths):
        _build(paths, target)


# --- images --------------------------------------------------------------------------------


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _layer(files: dict[str, Path], symlinks: dict[str, str], dirs: list[str]) -> bytes:
    """One uncompressed, reproducible layer tar (fixed mtime and owner)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)
        for name, source in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = source.stat().st_size, 0o755
            with source.open("rb") as data:
                tar.addfile(info, data)
        for name, target in symlinks.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def write_image(out: Path, name: str, layer: bytes, image_config: dict[str, object]) -> None:
    """A `docker save`-format archive of one image with one layer."""
    layer_id = hashlib.sha256(layer).hexdigest()
    document = {
        "architecture": _arch(),
        "os": "linux",
        "config": image_config,
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created_by": "platform cluster harness (cluster/images.py)"}],
    }
    config_bytes = json.dumps(document, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": [f"{layer_id}/layer.tar"]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        for member, data in (
            (config_name, config_bytes),
            (f"{layer_id}/layer.tar", layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def image_archives(paths: Paths) -> dict[str, Path]:
    """Image name -> archive, for every image the harness builds itself."""
    return {
        config.PAUSE_IMAGE: paths.images / "pause.tar",
        config.COREDNS_IMAGE: paths.images / "coredns.tar",
        config.TEST_IMAGE: paths.images / "busybox.tar",
    }


def build_images(paths: Paths) -> None:
    """The pause, CoreDNS and busybox image archives, rebuilt when their binaries change."""
    archives = image_archives(paths)
    specs: dict[str, tuple[bytes, dict[str, object]]] = {}
    busybox = Path(config.BUSYBOX)
    sources = {
        config.PAUSE_IMAGE: [paths.bin / "pause"],
        config.COREDNS_IMAGE: [paths.bin / "coredns"],
        config.TEST_IMAGE: [busybox],
    }
    for name, out in archives.items():
        if out.exists() and all(out.stat().st_mtime >= s.stat().st_mtime for s in sources[name]):
            continue
        if name == config.PAUSE_IMAGE:
            # 65535: the user upstream's pause image runs as.
            specs[name] = (
                _layer({"pause": paths.bin / "pause"}, {}, []),
                {"Entrypoint": ["/pause"], "User": "65535:65535"},
            )
        elif name == config.COREDNS_IMAGE:
            specs[name] = (
                _layer({"coredns": paths.bin / "coredns"}, {}, []),
                {"Entrypoint": ["/coredns"], "ExposedPorts": {"53/udp": {}, "53/tcp": {}}},
            )
        else:
            links = {f"bin/{applet}": "busybox" for applet in BUSYBOX_APPLETS}
            specs[name] = (
                _layer({"bin/busybox": busybox}, links, ["bin", "tmp"]),
                {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            )
    for name, (layer, image_config) in specs.items():
        log(f"writing image {name}")
        write_image(archives[name], name, layer, image_config)
