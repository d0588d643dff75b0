"""TLS to the database, against a PostgreSQL with certificates this test makes.

`require` encrypts; `verify-full` also checks the CA (PGSSLROOTCERT, libpq's own variable, which
the chart points at a mounted Secret) and the host name. The weakness the chart's external mode
had: `prefer` talks plaintext to a server without TLS and says nothing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from localpg import LocalPostgres

from tests.certs import Certificates, make_certificates
from tests.support import SCRIPTS, clean_env, json_lines, serve, wait_ready

# The embedded server's build has no TLS: Debian's PostgreSQL, which CI installs (.ci/run).
TLS_POSTGRES = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="module")
def tls_pg() -> Iterator[tuple[LocalPostgres, Certificates]]:
    """A server that accepts TCP logins over TLS only; its certificate names `localhost`."""
    if not (TLS_POSTGRES / "postgres").exists():
        pytest.fail(f"{TLS_POSTGRES} is missing: apt-get install postgresql-15")
    server = LocalPostgres(bin=TLS_POSTGRES)
    # Inside the server's own directory: the server's user must read the key (and only it).
    certs = make_certificates(server.root / "tls", "localhost")
    server.settings.update(
        {"ssl": "on", "ssl_cert_file": str(certs.cert), "ssl_key_file": str(certs.key)}
    )
    server.owned_by_server(certs.key, 0o600)
    server.init()
    (server.datadir / "pg_hba.conf").write_text(
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n"
    )
    server.stop()
    server.start()
    yield server, certs
    server.remove()


def platform_migrate(
    server: LocalPostgres, *args: str, host: str = "localhost", **env: str
) -> subprocess.CompletedProcess[str]:
    """`platform-migrate ARGS` configured the way the chart does it: POSTGRES_* variables."""
    variables = {
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(server.port),
        "POSTGRES_DB": server.database,
        "POSTGRES_USER": server.user,
        "POSTGRES_PASSWORD": "unused-the-server-trusts-tls-logins",
        **env,
    }
    return subprocess.run(
        [str(SCRIPTS / "platform-migrate"), *args],
        env=clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def last_error(result: subprocess.CompletedProcess[str]) -> str:
    return str(json_lines(result.stdout)[-1].get("error", ""))


def test_this_server_refuses_plaintext(tls_pg: tuple[LocalPostgres, Certificates]) -> None:
    server, _ = tls_pg
    result = platform_migrate(server, "wait", "--timeout", "2", POSTGRES_SSLMODE="disable")
    assert result.returncode == 3
    assert "no encryption" in last_error(result)


def test_require_connects_over_tls(tls_pg: tuple[LocalPostgres, Certificates]) -> None:
    server, _ = tls_pg
    result = platform_migrate(server, "upgrade", POSTGRES_SSLMODE="require")
    assert result.returncode == 0, result.stdout + result.stderr
    url = f"postgresql://{server.user}@localhost:{server.port}/{server.database}?sslmode=require"
    with serve(url) as api, api.client() as client:
        wait_ready(client, timeout=20)
        with psycopg.connect(dbname=server.database, user=server.user, host=str(server.root),
                             port=server.port) as conn:  # fmt: skip
            sessions = conn.execute(
                "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                "WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()"
            ).fetchall()
    assert sessions, "the API holds no connection"
    assert all(ssl for ssl, _ in sessions), sessions
    assert {version for _, version in sessions} <= {"TLSv1.2", "TLSv1.3"}


def test_verify_full_trusts_the_ca_from_a_file(tls_pg: tuple[LocalPostgres, Certificates]) -> None:
    server, certs = tls_pg
    result = platform_migrate(
        server, "check", POSTGRES_SSLMODE="verify-full", PGSSLROOTCERT=str(certs.ca)
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # connected: a verdict
    assert json_lines(result.stdout)[-1]["event"] == "schema check"


def test_verify_full_refuses_a_certificate_from_another_ca(
    tls_pg: tuple[LocalPostgres, Certificates], tmp_path: Path
) -> None:
    server, _ = tls_pg
    other = make_certificates(tmp_path / "other", "localhost")
    result = platform_migrate(
        server,
        "wait",
        "--timeout",
        "2",
        POSTGRES_SSLMODE="verify-full",
        PGSSLROOTCERT=str(other.ca),
    )
    assert result.returncode == 3
    assert "certificate verify failed" in last_error(result)


def test_verify_full_refuses_a_host_name_the_certificate_lacks(
    tls_pg: tuple[LocalPostgres, Certificates],
) -> None:
    server, certs = tls_pg
    result = platform_migrate(
        server, "wait", "--timeout", "2", host="127.0.0.1",
        POSTGRES_SSLMODE="verify-full", PGSSLROOTCERT=str(certs.ca),
    )  # fmt: skip
    assert result.returncode == 3
    assert "does not match host name" in last_error(result)


def test_prefer_is_silently_plaintext_where_require_refuses(pg: LocalPostgres) -> None:
    """The session's server has no TLS: `prefer` connects in clear, `require` does not connect."""
    conninfo = f"host=127.0.0.1 port={pg.port} dbname={pg.database} user={pg.user}"
    with psycopg.connect(conninfo + " sslmode=prefer") as conn:
        row = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    assert row == (False,)
    with pytest.raises(psycopg.OperationalError, match="does not support SSL"):
        psycopg.connect(conninfo + " sslmode=require")
