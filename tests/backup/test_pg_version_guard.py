"""docker/base/pg-version-guard.sh against real data directories and the real `postgres` binary:
it refuses exactly what PostgreSQL itself would crash on, before the server starts, and changes
nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from localpg import BIN, SERVICE_USER, LocalPostgres, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
GUARD = ROOT / "docker" / "base" / "pg-version-guard.sh"


def guard(pgdata: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PGDATA": str(pgdata)}
    return subprocess.run(
        ["sh", str(GUARD)], env=env, capture_output=True, text=True, check=False, timeout=30
    )


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def older_cluster(pg: LocalPostgres) -> Iterator[Path]:
    """A copy of a real data directory whose PG_VERSION says it was made by PostgreSQL 15
    (without its databases and WAL: the version check comes first, and they can be large)."""
    # Outside pytest's private tmp tree: the server's unprivileged user must reach it.
    root = Path(tempfile.mkdtemp(prefix="platform-pg-guard-"))
    root.chmod(0o755)
    copy = root / "pgdata"
    shutil.copytree(
        pg.datadir, copy, ignore=shutil.ignore_patterns("postmaster.pid", "base", "pg_wal")
    )
    (copy / "PG_VERSION").write_text("15\n")
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", SERVICE_USER, str(root)], check=True)
    copy.chmod(0o700)
    yield copy
    shutil.rmtree(root, ignore_errors=True)


def test_a_matching_cluster_and_an_empty_volume_pass(pg: LocalPostgres, tmp_path: Path) -> None:
    assert guard(pg.datadir).returncode == 0
    assert guard(tmp_path / "not-yet-created").returncode == 0
    (tmp_path / "empty").mkdir()
    proc = guard(tmp_path / "empty")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_another_major_is_refused_with_one_line_and_nothing_changes(older_cluster: Path) -> None:
    before = tree_digest(older_cluster)
    # What the server does on such a directory: the crash a pod would loop on.
    server = [str(BIN / "postgres"), "-D", str(older_cluster), "-p", str(free_port()),
              "-c", "listen_addresses=", "-k", str(older_cluster.parent)]  # fmt: skip
    if os.geteuid() == 0:
        server = ["runuser", "-u", SERVICE_USER, "--", *server]
    crashed = subprocess.run(server, capture_output=True, text=True, check=False, timeout=30)
    assert crashed.returncode != 0
    assert "database files are incompatible with server" in crashed.stderr

    proc = guard(older_cluster)
    major = (
        subprocess.run([BIN / "postgres", "--version"], capture_output=True, text=True, check=True)
        .stdout.split()[2]
        .split(".")[0]
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert f"holds a PostgreSQL 15 cluster and this image runs PostgreSQL {major}" in lines[0]
    assert "docs/runbooks/postgres-major-upgrade.md" in lines[0]
    assert tree_digest(older_cluster) == before
