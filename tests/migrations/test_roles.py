"""`platform-migrate upgrade` makes the API's roles: a group with DML only, logins in it.

The session's server trusts every login (the test is about privileges, not passwords); the
rotation and password tests run against a server of their own that asks for passwords.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from localpg import LocalPostgres
from psycopg import errors
from psycopg.conninfo import make_conninfo

from tests.support import SCRIPTS, clean_env, json_lines

PASSWORD = "app-login-password-0123456789"


@dataclass(frozen=True)
class Roles:
    group: str
    a: str
    b: str

    def env(self, login: str, password: str = PASSWORD, retired: str = "") -> dict[str, str]:
        return {
            "APP_POSTGRES_GROUP": self.group,
            "APP_POSTGRES_USER": login,
            "APP_POSTGRES_PASSWORD": password,
            "APP_POSTGRES_RETIRED_USERS": retired,
        }


@pytest.fixture
def roles() -> Roles:
    """Role names of this test only (roles are global to the server, databases are not)."""
    suffix = uuid.uuid4().hex[:8]
    return Roles(f"app_{suffix}", f"app_{suffix}_a", f"app_{suffix}_b")


def login_url(url: str, user: str, password: str | None = None, dbname: str | None = None) -> str:
    """`url` with another login (and database): the form DATABASE_URL takes."""
    parts = urlsplit(url)
    netloc = f"{user}:{password}@" if password else f"{user}@"
    path = f"/{dbname}" if dbname else parts.path
    return urlunsplit(parts._replace(netloc=netloc + parts.netloc.rsplit("@", 1)[1], path=path))


def as_role(url: str, role: str, password: str | None = None) -> psycopg.Connection[Any]:
    return psycopg.connect(make_conninfo(url, user=role, password=password), autocommit=True)


def run_upgrade(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`platform-migrate upgrade` with these APP_POSTGRES_* settings."""
    return subprocess.run(
        [str(SCRIPTS / "platform-migrate"), "upgrade"],
        env=clean_env(DATABASE_URL=url, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def upgrade(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = run_upgrade(url, env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def roles_line(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    (line,) = [x for x in json_lines(result.stdout) if x["event"] == "database roles ensured"]
    return line


@pytest.fixture
def granted(fresh_db: str, roles: Roles) -> str:
    """A database at head whose API login `roles.a` was made by the migration."""
    upgrade(fresh_db, roles.env(roles.a))
    return fresh_db


def test_upgrade_makes_a_group_and_a_plain_login(fresh_db: str, roles: Roles) -> None:
    line = roles_line(upgrade(fresh_db, roles.env(roles.a)))
    assert line["created"] == [roles.group, roles.a]
    assert line["managed"] is True
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
            "rolcanlogin, pg_has_role(rolname, %s, 'USAGE') FROM pg_roles WHERE rolname = %s",
            (roles.group, roles.a),
        ).fetchone()
        group_login = conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (roles.group,)
        ).fetchone()
    assert row == (False, False, False, False, False, True, True)
    assert group_login == (False,)


def test_an_existing_install_gets_its_roles_on_the_next_upgrade(
    migrated_db: str, roles: Roles
) -> None:
    """What an install of the first release has: tables owned by the superuser, data, no roles."""
    with psycopg.connect(migrated_db) as conn:
        conn.execute("INSERT INTO items (name, description) VALUES ('kept', 'from 1.0.0')")
    line = roles_line(upgrade(migrated_db, roles.env(roles.a)))
    assert line["created"] == [roles.group, roles.a]
    with as_role(migrated_db, roles.a) as conn:
        assert conn.execute("SELECT name, description FROM items").fetchall() == [
            ("kept", "from 1.0.0")
        ]
        conn.execute("UPDATE items SET description = 'by the API login'")


def test_a_second_run_creates_nothing_and_changes_nothing(granted: str, roles: Roles) -> None:
    line = roles_line(upgrade(granted, roles.env(roles.a)))
    assert line["created"] == []
    with as_role(granted, roles.a) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('still works')")


def test_the_api_login_reads_and_writes_items(granted: str, roles: Roles) -> None:
    with as_role(granted, roles.a) as conn:
        row = conn.execute("INSERT INTO items (name) VALUES ('x') RETURNING id").fetchone()
        assert row is not None
        item = row[0]
        conn.execute("UPDATE items SET description = 'd' WHERE id = %s", (item,))
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (1,)
        conn.execute("DELETE FROM items WHERE id = %s", (item,))
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


@pytest.mark.parametrize(
    "statement",
    [
        "DROP TABLE items",
        "ALTER TABLE items ADD COLUMN evil text",
        "TRUNCATE items",
        "CREATE TABLE evil (id int)",
        "CREATE TEMPORARY TABLE evil (id int)",
        "CREATE SCHEMA evil",
        "CREATE FUNCTION evil() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE INDEX evil ON items (name)",
        "SELECT rolname, rolpassword FROM pg_authid",
        "UPDATE alembic_version SET version_num = 'evil'",
        "DELETE FROM schema_revisions",
        "CREATE ROLE evil",
        "SET ROLE platform",
    ],
)
def test_the_api_login_cannot_change_the_schema_or_read_secrets(
    granted: str, roles: Roles, statement: str
) -> None:
    with as_role(granted, roles.a) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_tables_of_later_migrations_are_granted_as_they_are_created(
    granted: str, roles: Roles
) -> None:
    # What a later revision does, as the migration role, with no grant step after it.
    with psycopg.connect(granted, autocommit=True) as owner:
        owner.execute("CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY, note text)")
    with as_role(granted, roles.a) as conn:
        conn.execute("INSERT INTO later (note) VALUES ('granted by default')")
        assert conn.execute("SELECT note FROM later").fetchone() == ("granted by default",)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE later")


def test_the_password_is_stored_and_sent_hashed_never_in_clear(
    fresh_db: str, roles: Roles, pg: LocalPostgres
) -> None:
    name = fresh_db.rsplit("/", 1)[1]
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
    upgrade(fresh_db, roles.env(roles.a))
    with psycopg.connect(fresh_db) as conn:
        row = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (roles.a,)
        ).fetchone()
    assert row is not None
    stored = row[0]
    assert stored.startswith("SCRAM-SHA-256$")
    server_log = (pg.root / "pg.log").read_text()
    assert f'CREATE ROLE "{roles.a}"' in server_log
    assert PASSWORD not in server_log


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("retired_is_login", "also listed in APP_POSTGRES_RETIRED_USERS"),
        ("login_is_owner", "must not be the migration role"),
        ("retire_a_stranger", "only logins of"),
    ],
)
def test_unsafe_requests_are_refused_and_change_nothing(
    granted: str, roles: Roles, problem: str, message: str
) -> None:
    env = {
        "retired_is_login": roles.env(roles.a, retired=roles.a),
        "login_is_owner": roles.env("platform"),
        "retire_a_stranger": roles.env(roles.b, retired="platform"),
    }[problem]
    result = run_upgrade(granted, env)
    assert result.returncode == 1, result.stdout
    assert message in result.stdout
    with psycopg.connect(granted) as conn:
        login = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (roles.b,))
        assert login.fetchone() == (0,)
        assert conn.execute(
            "SELECT rolcanlogin FROM pg_roles WHERE rolname = 'platform'"
        ).fetchone() == (True,)


def test_an_invalid_role_name_is_a_configuration_error(fresh_db: str, roles: Roles) -> None:
    result = run_upgrade(fresh_db, roles.env('app"; DROP ROLE platform; --'))
    assert result.returncode == 2
    assert result.stderr.startswith("invalid configuration: APP_POSTGRES_USER: ")


def test_concurrent_runners_make_the_roles_once(fresh_db: str, roles: Roles) -> None:
    processes = [
        subprocess.Popen(
            [str(SCRIPTS / "platform-migrate"), "upgrade"],
            env=clean_env(DATABASE_URL=fresh_db, **roles.env(roles.a)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]
    assert [code for code, _, _ in results] == [0] * 4, results
    created = [
        name
        for _, out, _ in results
        for line in json_lines(out)
        if line["event"] == "database roles ensured"
        for name in line["created"]
    ]
    assert sorted(created) == sorted([roles.group, roles.a])


# --------------------------------------------------------------------------------------------
# External databases: a migration role that is not a superuser.


@dataclass(frozen=True)
class OwnedDb:
    admin: str  # the server's superuser, in this database
    owner: str  # the database's owner, not a superuser: the migration role
    owner_role: str


@pytest.fixture
def owned_db(pg: LocalPostgres) -> Iterator[OwnedDb]:
    """A database owned by a fresh non-superuser role, as a managed PostgreSQL service gives."""
    suffix = uuid.uuid4().hex[:8]
    owner, name = f"owner_{suffix}", f"ext_{suffix}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{owner}" LOGIN')
        conn.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    admin = login_url(pg.url, pg.user, dbname=name)
    yield OwnedDb(admin, login_url(pg.url, owner, dbname=name), owner)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_a_createrole_migration_role_makes_the_login_itself(
    owned_db: OwnedDb, roles: Roles
) -> None:
    with psycopg.connect(owned_db.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{owned_db.owner_role}" CREATEROLE')
    line = roles_line(upgrade(owned_db.owner, roles.env(roles.a)))
    assert (line["managed"], line["created"]) == (True, [roles.group, roles.a])
    with as_role(owned_db.admin, roles.a) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('external')")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE items")
    # The next release's Job alters the login it made: no superuser needed for that.
    upgrade(owned_db.owner, roles.env(roles.a, password="a-new-password-0123456789"))


def test_pre_made_roles_are_checked_and_granted_without_createrole(
    owned_db: OwnedDb, roles: Roles
) -> None:
    result = run_upgrade(owned_db.owner, roles.env(roles.a))
    assert result.returncode == 1
    assert f"role {roles.group} does not exist" in result.stdout
    with psycopg.connect(owned_db.admin, autocommit=True) as conn:  # what the DBA does, once
        conn.execute(f"CREATE ROLE {roles.group} NOLOGIN")
        conn.execute(f"CREATE ROLE {roles.a} LOGIN")
    result = run_upgrade(owned_db.owner, roles.env(roles.a))
    assert result.returncode == 1
    assert f"must inherit {roles.group}" in result.stdout
    with psycopg.connect(owned_db.admin, autocommit=True) as conn:
        conn.execute(f"GRANT {roles.group} TO {roles.a}")
    line = roles_line(upgrade(owned_db.owner, roles.env(roles.a)))
    assert (line["managed"], line["created"]) == (False, [])
    with as_role(owned_db.admin, roles.a) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('pre-made')")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE evil (id int)")


# --------------------------------------------------------------------------------------------
# Rotation, against a server that asks for passwords.

OWNER_PASSWORD = "owner-password-0123456789"


@pytest.fixture(scope="module")
def password_pg() -> Iterator[LocalPostgres]:
    server = LocalPostgres(password=OWNER_PASSWORD).init()
    yield server
    server.remove()


def refused(url: str, role: str, password: str) -> str:
    with pytest.raises(psycopg.OperationalError) as raised:
        as_role(url, role, password).close()
    return str(raised.value)


def test_rotation_switches_logins_then_the_old_one_is_refused(
    password_pg: LocalPostgres, roles: Roles
) -> None:
    url = password_pg.url
    first, second, third = (f"{n}-password-0123456789" for n in ("first", "second", "third"))
    upgrade(url, roles.env(roles.a, first))
    old_session = as_role(url, roles.a, first)
    # Step 1: a second login of the group, while pods still use the first one.
    upgrade(url, roles.env(roles.b, second))
    for role, password in ((roles.a, first), (roles.b, second)):
        with as_role(url, role, password) as conn:
            conn.execute("INSERT INTO items (name) VALUES (%s)", (role,))
    # Step 2: once no pod uses it, the first login is retired.
    line = roles_line(upgrade(url, roles.env(roles.b, second, retired=roles.a)))
    assert line["retired"] == [roles.a]
    # No password any more, and no LOGIN: libpq reports whichever the server checks first.
    assert "password authentication failed" in refused(url, roles.a, first)
    with pytest.raises(psycopg.OperationalError):
        old_session.execute("SELECT 1")  # its open session was ended too
    old_session.close()
    with as_role(url, roles.b, second) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
    # Coming back to the first name later gives it a new password and LOGIN again.
    upgrade(url, roles.env(roles.a, third, retired=roles.b))
    refused(url, roles.b, second)
    with as_role(url, roles.a, third) as conn:
        conn.execute("SELECT 1")
    assert "authentication failed" in refused(url, roles.a, first)


def test_a_wrong_app_password_fails_the_migration_job_not_the_pods(
    password_pg: LocalPostgres, roles: Roles
) -> None:
    owner, database = f"owner_{roles.group}", f"db_{roles.group}"
    with psycopg.connect(password_pg.url, autocommit=True) as conn:  # a DBA made the roles
        conn.execute(f"CREATE ROLE {roles.group} NOLOGIN")
        conn.execute(f"CREATE ROLE {roles.a} LOGIN PASSWORD 'the-real-password-0123'")
        conn.execute(f"GRANT {roles.group} TO {roles.a}")
        conn.execute(f"CREATE ROLE {owner} LOGIN PASSWORD '{OWNER_PASSWORD}'")
        conn.execute(f"CREATE DATABASE {database} OWNER {owner}")
    url = login_url(password_pg.url, owner, OWNER_PASSWORD, database)
    result = run_upgrade(url, roles.env(roles.a, password="not-the-password-0123"))
    assert result.returncode == 1
    assert f"{roles.a} cannot log in" in result.stdout
    assert "not-the-password" not in result.stdout + result.stderr
    upgrade(url, roles.env(roles.a, password="the-real-password-0123"))
