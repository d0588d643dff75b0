"""What a cluster can leave on the machine, read from the machine itself (not from the harness).

Each category is a set of lines, so two footprints compare category by category: what `up`
added must be gone after `down`, and `down` must not have removed anything that was there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Sysctls the kubelets change and the ones the cluster needs (cluster/config.py restores them).
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/bridge/bridge-nf-call-iptables",
)
# Fixed host directories that containerd, the CNI plugins and the kubelet write to.
HOST_DIRS = (
    Path("/var/log/containers"),
    Path("/var/lib/cni"),
    Path("/run/containerd"),
    Path("/run/netns"),
)
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
COUNTERS = re.compile(r" \[\d+:\d+\]$")


@dataclass(frozen=True)
class Owner:
    """What marks a trace as the cluster's: its directories and its node containers' IDs."""

    repo: Path
    container_ids: frozenset[str] = frozenset()

    @property
    def markers(self) -> tuple[str, ...]:
        return (str(self.repo / ".cluster"), "/run/platform-cluster")


def _lines(*argv: str) -> set[str]:
    if not shutil.which(argv[0]):
        return set()
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    return {line.strip() for line in result.stdout.splitlines() if line.strip()}


def docker_ids(label: str) -> set[str]:
    return _lines(DOCKER, "ps", "--all", "--no-trunc", "--quiet", "--filter", f"label={label}")


def _rules() -> set[str]:
    found = set()
    for tool in ("iptables-save", "ip6tables-save"):
        for line in _lines(tool):
            if line.startswith(("-A", ":", "*")):
                # Counters change all the time; the chain and its policy are what matter.
                found.add(f"{tool} {COUNTERS.sub('', line)}")
    return found


def _mounts() -> set[str]:
    found = set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        found.add(f"{fields[4]} {fields[separator + 1]} {fields[separator + 2]}")
    return found


def _cgroups(owner: Owner) -> set[str]:
    """Cgroups a cluster creates: the pods' (kubepods), a worker's kubelet root, a node
    container's own (docker/ID). Other work on the machine creates and removes cgroups of
    its own all the time; those are not compared."""
    found = set()
    for hierarchy in CGROUP_ROOT.iterdir():
        for dirpath, _, _ in os.walk(hierarchy):
            relative = Path(dirpath).relative_to(CGROUP_ROOT)
            parts = set(relative.parts)
            ours = {"kubepods", "kubelet"} & parts or owner.container_ids & parts
            if ours:
                found.add(str(relative))
    return found


def _processes(owner: Owner) -> set[str]:
    """Processes (in any PID namespace) whose command line names the cluster's directories."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if any(marker in cmdline for marker in owner.markers):
            found.add(f"{entry.name} {cmdline}")
    return found


def _files() -> set[str]:
    found = set()
    for directory in HOST_DIRS:
        if directory.exists():
            found.add(str(directory))
            found.update(str(path) for path in directory.rglob("*"))
    return found


def _sysctls() -> set[str]:
    return {f"{key}={Path('/proc/sys', key).read_text().strip()}" for key in SYSCTLS}


def _state(owner: Owner) -> set[str]:
    candidates = (
        owner.repo / ".cluster" / "state",
        owner.repo / ".cluster" / "kubeconfig",
        owner.repo / ".cluster" / "host-snapshot.json",
        Path("/run/platform-cluster"),
    )
    return {str(path) for path in candidates if path.exists()}


def take(owner: Owner) -> dict[str, set[str]]:
    """Every category, now."""
    return {
        "containers": _lines(DOCKER, "ps", "--all", "--format", "{{.ID}} {{.Names}}"),
        "networks": _lines(DOCKER, "network", "ls", "--format", "{{.Name}}"),
        "interfaces": set(os.listdir("/sys/class/net")),
        "routes": _lines("ip", "-4", "route", "show", "table", "all")
        | _lines("ip", "-6", "route", "show", "table", "all"),
        "iptables": _rules(),
        "ipsets": _lines("ipset", "list", "-name"),
        "mounts": _mounts(),
        "cgroups": _cgroups(owner),
        "processes": _processes(owner),
        "host files": _files(),
        "sysctls": _sysctls(),
        "state": _state(owner),
    }


def differences(before: dict[str, set[str]], after: dict[str, set[str]]) -> dict[str, object]:
    """Per category, what appeared and what disappeared (only the categories that changed)."""
    changed: dict[str, object] = {}
    for category, lines in before.items():
        added, removed = sorted(after[category] - lines), sorted(lines - after[category])
        if added or removed:
            changed[category] = {"added": added, "removed": removed}
    return changed
