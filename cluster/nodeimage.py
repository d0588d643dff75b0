"""The worker nodes' image: a minimal Debian with containerd, runc, CNI plugins and iptables.

No registry is reachable, so the image is made the way the project's base images are
(docker/base/build.sh): `debootstrap --variant=minbase` from the machine's Debian mirror,
stripped, and `docker import`ed. The Kubernetes binaries are not in it: a node container
mounts `.cluster/bin` (the same build the host runs). The tag is a digest of this file and
the mirror, so the image is built once per recipe and reused from Docker's store after that.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cluster import config
from cluster.config import Paths
from cluster.machines import docker, docker_run
from cluster.system import log, unmount_under

# What a node runs besides the harness's binaries: the runtime, the CNI plugins, the tools the
# kubelet, kube-proxy and portmap call (iptables, ip, conntrack, ipset), and mount/findmnt.
PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "iproute2",
    "conntrack",
    "ipset",
    "util-linux",
    "mount",
)
# Versions of these go into the image's label (and the docs' component table).
REPORTED = ("containerd", "runc", "containernetworking-plugins", "iptables")
# Nothing a node reads: documentation, locales, apt's lists and caches, logs.
STRIP = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf",
    "var/log",
)
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def debian_mirror() -> str:
    """The first Debian archive in apt's sources (one-line or deb822 format)."""
    listed = APT_SOURCES[1]
    files = [APT_SOURCES[0], *sorted(listed.glob("*.list")), *sorted(listed.glob("*.sources"))]
    for source in files:
        if not source.is_file():
            continue
        for line in source.read_text().splitlines():
            match = re.match(r"^(?:URIs:|deb)\s+(?:\[[^]]*\]\s+)?(\S+)", line.strip())
            if match and re.search(r"/debian/?$", match.group(1)):
                return match.group(1)
    return DEFAULT_MIRROR


def image_name() -> str:
    """`localhost/platform-node:<digest of the recipe and the mirror>`."""
    recipe = Path(__file__).read_bytes() + debian_mirror().encode()
    return f"{config.NODE_IMAGE_REPOSITORY}:{hashlib.sha256(recipe).hexdigest()[:16]}"


def image_exists(name: str) -> bool:
    result = subprocess.run([docker(), "image", "inspect", name], capture_output=True, check=False)
    return result.returncode == 0


def ensure_image(paths: Paths) -> str:
    """The node image's name, after building it if this recipe has not been built yet."""
    name = image_name()
    if image_exists(name):
        return name
    started = time.monotonic()
    work = paths.top / "node-image"
    work.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="rootfs-", dir=work))
    try:
        _debootstrap(root, work / "debs")
        versions = _versions(root)
        for relative in STRIP:
            shutil.rmtree(root / relative, ignore_errors=True)
        # Per container, never baked in: Docker writes hostname and resolv.conf, the node's
        # boot writes its machine ID.
        for relative in ("etc/hostname", "etc/resolv.conf"):
            (root / relative).unlink(missing_ok=True)
        (root / "etc/machine-id").write_text("")
        _import(root, name, versions)
    finally:
        unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)
    _remove_older(name)
    size = docker_run("image", "inspect", "--format", "{{.Size}}", name).strip()
    log(
        f"node image {name} built in {time.monotonic() - started:.0f} s "
        f"({int(size) / 1e6:.0f} MB; {versions})"
    )
    return name


def _debootstrap(root: Path, debs: Path) -> None:
    mirror = debian_mirror()
    log(f"building the node image: debootstrap {config.NODE_IMAGE_SUITE} from {mirror}")
    # The downloaded packages stay in .cluster/node-image/debs for the next recipe change.
    debs.mkdir(parents=True, exist_ok=True)
    argv = [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        f"--cache-dir={debs}",
        config.NODE_IMAGE_SUITE,
        str(root),
        mirror,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise RuntimeError(f"debootstrap exited {result.returncode}:\n{tail}")


def _versions(root: Path) -> str:
    query = ["chroot", str(root), "dpkg-query", "-W", "-f", "${Package}=${Version} ", *REPORTED]
    return subprocess.run(query, capture_output=True, text=True, check=True).stdout.strip()


def _import(root: Path, name: str, versions: str) -> None:
    tar = subprocess.Popen(
        ["tar", "-C", str(root), "--numeric-owner", "--xattrs", "-c", "."],
        stdout=subprocess.PIPE,
    )
    imported = subprocess.run(
        [
            docker(),
            "import",
            "--change",
            "LABEL org.opencontainers.image.title=platform-node",
            "--change",
            f"LABEL org.opencontainers.image.description={versions.replace(' ', ',')}",
            "-",
            name,
        ],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    if tar.stdout:
        tar.stdout.close()
    if tar.wait() != 0 or imported.returncode != 0:
        raise RuntimeError(f"docker import of {name} failed: {imported.stderr.strip()}")


def _remove_older(keep: str) -> None:
    """Earlier builds of the node image (a recipe change replaced them)."""
    listed = docker_run("image", "ls", "--format", "{{.Repository}}:{{.Tag}}")
    for image in listed.split():
        if image.startswith(f"{config.NODE_IMAGE_REPOSITORY}:") and image != keep:
            docker_run("image", "rm", image, check=False)
