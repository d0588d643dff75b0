"""Host plumbing: commands, daemons by PID file, mounts, cgroups, iptables, interfaces."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def log(message: str) -> None:
    """One progress line on stderr, prefixed so it stands out in make's output."""
    print(f"cluster: {message}", file=sys.stderr, flush=True)


def run(*args: str | Path, check: bool = True, input_text: str | None = None) -> str:
    """Run a command and return its stdout; raise with its stderr when it fails."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, input=input_text, check=False
    )
    if check and result.returncode != 0:
        cmd = shlex.join(str(a) for a in args)
        raise RuntimeError(f"{cmd} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def wait_for(
    what: str, ready: Callable[[], object], timeout: float, interval: float = 0.25
) -> None:
    """Poll `ready` until it returns something true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if ready():
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(interval)


# --- daemons -----------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def start_daemon(name: str, argv: list[str], pids: Path, logs: Path) -> int:
    """Start `argv` in its own session, logging to logs/NAME.log; remember its PID."""
    pids.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    # PID and start time together: a recycled PID is never mistaken for our daemon.
    (pids / f"{name}.pid").write_text(f"{process.pid} {_start_time(process.pid)}\n")
    return process.pid


def daemon_pid(name: str, pids: Path) -> int | None:
    """The PID of our daemon `name` if it is still the process we started."""
    try:
        pid_text, started = (pids / f"{name}.pid").read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def stop_pid(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout` seconds; reap it if it is our child."""
    stop_pids([pid], timeout)


def stop_pids(pids: list[int], timeout: float = 10.0) -> None:
    """stop_pid for many at once: all are signalled before any is waited for."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while living := [pid for pid in pids if _alive(pid)]:
        if time.monotonic() > deadline:
            for pid in living:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_daemon(name: str, pids: Path, timeout: float = 10.0) -> None:
    """Stop our daemon `name` (if it still runs) and forget its PID."""
    pid = daemon_pid(name, pids)
    if pid is not None:
        log(f"stopping {name} (pid {pid})")
        stop_pid(pid, timeout)
    (pids / f"{name}.pid").unlink(missing_ok=True)


def processes_matching(*needles: str) -> list[int]:
    """PIDs whose command line contains every needle (used for containerd's shims).

    Only the host's own processes: a worker node's (in its container's PID namespace) run
    the same binaries with the same socket paths, and go with their container.
    """
    own_namespace = os.readlink("/proc/self/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            namespace = os.readlink(entry / "ns" / "pid")
        except OSError:
            continue
        if namespace == own_namespace and all(n in cmdline for n in needles):
            found.append(int(entry.name))
    return found


# --- cgroups -------------------------------------------------------------------------------

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _cgroup_dirs(name: str) -> list[Path]:
    """Every cgroup directory named `name` or below it, in all hierarchies, deepest first.

    os.walk, not Path.glob: cgroups vanish while we look (runc removes its own), and os.walk
    skips what disappeared instead of raising.
    """
    found = [
        Path(dirpath)
        for hierarchy in CGROUP_ROOT.iterdir()
        for dirpath, _, _ in os.walk(hierarchy / name)
    ]
    return sorted(found, key=lambda p: -len(p.parts))


def kill_cgroup_trees(name: str) -> int:
    """SIGKILL every process under the cgroup `name` in every v1 hierarchy; remove the groups.

    The kubelet (cgroupfs driver) puts every pod under `kubepods`; killing that tree stops
    all containers even when containerd or the kubelet died first.
    """
    killed: set[int] = set()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pids: set[int] = set()
        for group in _cgroup_dirs(name):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (group / "cgroup.procs").read_text().split())
        # Zombies stay listed until their parent (the shim) reaps them: not worth a wait.
        living = [pid for pid in pids if _alive(pid)]
        if not living:
            break
        for pid in living:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.update(living)
        time.sleep(0.1)
    for group in _cgroup_dirs(name):
        with contextlib.suppress(OSError):
            group.rmdir()
    return len(killed)


# --- mounts --------------------------------------------------------------------------------


def _unescape(path: str) -> str:
    """Decode the octal escapes /proc/self/mountinfo uses for spaces and the like."""
    return path.encode().decode("unicode_escape")


def mounts_under(*prefixes: Path) -> list[str]:
    """Mount points at or below any of `prefixes`, deepest first."""
    roots = [str(p.resolve()) if p.exists() else str(p) for p in prefixes]
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = _unescape(line.split()[4])
        if any(point == r or point.startswith(r + "/") for r in roots):
            points.append(point)
    return sorted(set(points), key=lambda p: -p.count("/"))


def unmount_under(*prefixes: Path) -> int:
    """Unmount everything at or below `prefixes` (lazily if busy); return how many."""
    count = 0
    for _ in range(5):
        points = mounts_under(*prefixes)
        if not points:
            break
        for point in points:
            if run("umount", point, check=False) or not _is_mounted(point):
                count += 1
            else:
                run("umount", "-l", point, check=False)
                count += 1
    return count


def _is_mounted(point: str) -> bool:
    return point in mounts_under(Path(point))


def remove_empty_dirs(top: Path) -> None:
    """Remove `top` and its subdirectories, deepest first, where they are empty."""
    if not top.is_dir():
        return
    for directory in sorted(top.glob("**/"), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            directory.rmdir()


# --- network -------------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def _iptables_tool(family: int) -> str:
    return "iptables" if family == 4 else "ip6tables"


def iptables_available(family: int) -> bool:
    return (
        subprocess.run(
            [_iptables_tool(family), "-w", "-t", "filter", "-S", "INPUT"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def add_rule(family: int, table: str, chain: str, rule: list[str], comment: str) -> None:
    """Insert a rule at the top of `chain` unless it is there already; tag it with `comment`."""
    tool = _iptables_tool(family)
    spec = [*rule, "-m", "comment", "--comment", comment]
    exists = subprocess.run(
        [tool, "-w", "-t", table, "-C", chain, *spec], capture_output=True, check=False
    )
    if exists.returncode != 0:
        run(tool, "-w", "-t", table, "-I", chain, *spec)


def remove_rules(family: int, comment: str, chain_prefixes: tuple[str, ...]) -> int:
    """Delete our rules: those tagged `comment` and every chain named with `chain_prefixes`.

    Rule by rule with `-D`, never a whole-table restore, so the rules of whoever else shares
    this machine's netfilter (dockerd) are untouched even while they change.
    """
    if not iptables_available(family):
        return 0
    tool = _iptables_tool(family)
    removed = 0
    for table in ("filter", "nat", "mangle", "raw"):
        dump = run(f"{tool}-save", "-t", table, check=False)
        ours = set()
        for line in dump.splitlines():
            if line.startswith(":") and line[1:].startswith(chain_prefixes):
                ours.add(line[1:].split()[0])
        for line in dump.splitlines():
            if not line.startswith("-A "):
                continue
            words = shlex.split(line)
            chain = words[1]
            if chain in ours:
                continue  # flushed with its chain below
            jumps = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-j", "-g")}
            if comment in words or jumps & ours:
                run(tool, "-w", "-t", table, "-D", *words[1:], check=False)
                removed += 1
        for chain in ours:
            run(tool, "-w", "-t", table, "-F", chain, check=False)
        for chain in ours:
            run(tool, "-w", "-t", table, "-X", chain, check=False)
            removed += 1
    return removed


def destroy_ipsets(prefixes: tuple[str, ...]) -> int:
    """Destroy the ipsets named with `prefixes` (after the rules that match on them are gone:
    a set still referenced cannot be destroyed)."""
    if not shutil.which("ipset"):
        return 0
    names = run("ipset", "list", "-name", check=False).split()
    ours = [name for name in names if name.startswith(prefixes)]
    for name in ours:
        run("ipset", "destroy", name, check=False)
    return len(ours)
