"""Database roles: the migration role owns the schema, the API logs in with DML only.

After migrating, `platform-migrate upgrade` (connected as the migration role) makes the database
match what APP_POSTGRES_* describe, in one transaction under the migration lock:

- a NOLOGIN group role (APP_POSTGRES_GROUP) holds the API's privileges: CONNECT, USAGE on the
  schema, SELECT/INSERT/UPDATE/DELETE on the tables, SELECT only on the migration bookkeeping,
  sequences, and default privileges so tables of later migrations are granted on creation. No
  CREATE anywhere, no TEMP, no ownership: the API cannot change the schema or read pg_authid;
- the API's login (APP_POSTGRES_USER) is a member of that group and nothing else;
- logins named in APP_POSTGRES_RETIRED_USERS lose LOGIN and their password.

Rotation without downtime switches between two logins of the group: the new one is made while
pods still use the old one, and the old one is retired once no pod uses it. A migration role
that may create roles (superuser, e.g. the bundled server's POSTGRES_USER, or CREATEROLE)
manages the logins itself; one that may not only checks that the group and login exist as a
DBA made them, and grants. See docs/decisions/0051-database-roles.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo

from app.config import Settings
from app.logs import get_logger
from app.migrate.errors import LockTimeoutError
from app.revisions.database import CURRENT_REVISION_SQL

log = get_logger("platform.migrate")
# The migration lock (app/migrate/apply.py): grants must not interleave with a schema change.
LOCK_KEY = 6_847_943_102_485_430_292
# Tables the API reads but must never write: which revision the schema is at.
BOOKKEEPING = ("alembic_version", "schema_revisions")


class AccessError(Exception):
    """The roles cannot be made as configured; the message says what to change."""


@dataclass(frozen=True)
class AccessPlan:
    """What APP_POSTGRES_* ask for. The password is kept only until it is hashed."""

    group: str
    login: str
    password: str
    retired: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> AccessPlan | None:
        if not settings.app_postgres_user or settings.app_postgres_password is None:
            return None
        return cls(
            group=settings.app_postgres_group,
            login=settings.app_postgres_user,
            password=settings.app_postgres_password.get_secret_value(),
            retired=tuple(name for name in settings.app_postgres_retired_users.split(",") if name),
        )


@dataclass(frozen=True)
class AccessReport:
    group: str
    login: str
    managed: bool
    created: tuple[str, ...]
    retired: tuple[str, ...]


@dataclass(frozen=True)
class _Role:
    name: str
    superuser: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    login: bool

    @property
    def privileged(self) -> bool:
        """Any attribute a plain application login must not have."""
        return (
            self.superuser or self.createrole or self.createdb or self.replication or self.bypassrls
        )


def ensure_access(conninfo: str, plan: AccessPlan, lock_timeout: float) -> AccessReport:
    """Create or check the roles and grant the group; then prove the login can read the schema."""
    if plan.login in plan.retired:
        raise AccessError("APP_POSTGRES_USER is also listed in APP_POSTGRES_RETIRED_USERS")
    if plan.login == plan.group:
        raise AccessError("APP_POSTGRES_USER must differ from APP_POSTGRES_GROUP")
    try:
        with psycopg.connect(conninfo) as conn, conn.transaction():
            _lock(conn, lock_timeout)
            report = _ensure(conn, plan)
    except errors.InsufficientPrivilege as exc:
        raise AccessError(f"the migration role lacks a privilege: {exc}") from None
    _verify_login(conninfo, plan)
    return report


def _lock(conn: psycopg.Connection[Any], timeout: float) -> None:
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(timeout * 1000)}ms",))
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
    except errors.LockNotAvailable:
        raise LockTimeoutError(f"migration lock not acquired within {timeout:g}s") from None
    conn.execute("SELECT set_config('lock_timeout', '0', true)")


def _role(conn: psycopg.Connection[Any], name: str) -> _Role | None:
    row = conn.execute(
        "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, "
        "rolcanlogin FROM pg_roles WHERE rolname = %s",
        (name,),
    ).fetchone()
    return _Role(*row) if row else None


def _ensure(conn: psycopg.Connection[Any], plan: AccessPlan) -> AccessReport:
    me = _role(conn, _scalar(conn, "SELECT current_user"))
    assert me is not None  # noqa: S101 - the role we are connected as exists
    if plan.login == me.name:
        raise AccessError("APP_POSTGRES_USER must not be the migration role itself")
    managed = me.superuser or me.createrole
    created: list[str] = []
    if _role(conn, plan.group) is None:
        if not managed:
            raise AccessError(
                f"role {plan.group} does not exist and {me.name} may not create roles: "
                f"create it (NOLOGIN) or grant {me.name} CREATEROLE"
            )
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(plan.group)))
        created.append(plan.group)
    if managed:
        if _set_login(conn, plan, me):
            created.append(plan.login)
        retired = _retire(conn, plan, me.name)
    else:
        _check_unmanaged_login(conn, plan, me.name)
        retired = ()
    _grant(conn, plan.group)
    return AccessReport(plan.group, plan.login, managed, tuple(created), retired)


def _set_login(conn: psycopg.Connection[Any], plan: AccessPlan, me: _Role) -> bool:
    """Make the login a plain member of the group with this password; True if it is new."""
    # Hashed here (SCRAM, as psql's \password does): the statement, which the server may log,
    # never carries the password itself.
    verifier = conn.pgconn.encrypt_password(plan.password.encode(), plan.login.encode())
    password = sql.SQL("PASSWORD {}").format(sql.Literal(verifier.decode()))
    login = sql.Identifier(plan.login)
    existing = _role(conn, plan.login)
    if existing is None:
        statement = sql.SQL(
            "CREATE ROLE {} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS {}"
        )
    elif me.superuser:
        statement = sql.SQL(
            "ALTER ROLE {} WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS {}"
        )
    elif existing.privileged:
        # Only a superuser may take these attributes away; refuse to hand such a role to the API.
        raise AccessError(f"role {plan.login} has attributes a login of the API must not have")
    else:
        statement = sql.SQL("ALTER ROLE {} WITH LOGIN INHERIT {}")
    conn.execute(statement.format(login, password))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(plan.group), login))
    return existing is None


def _retire(conn: psycopg.Connection[Any], plan: AccessPlan, me: str) -> tuple[str, ...]:
    retired = []
    for name in plan.retired:
        role = _role(conn, name)
        if role is None:
            continue
        if name == me or role.superuser or not _member(conn, name, plan.group):
            raise AccessError(f"refusing to retire {name}: only logins of {plan.group} are retired")
        statement = sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL")
        conn.execute(statement.format(sql.Identifier(name)))
        _end_sessions(conn, name)
        retired.append(name)
    return tuple(retired)


def _end_sessions(conn: psycopg.Connection[Any], name: str) -> None:
    """Close what the retired login still has open; a retired credential must not keep working."""
    try:
        with conn.transaction():
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (name,),
            )
    except errors.InsufficientPrivilege:
        # Without superuser or pg_signal_backend the sessions end when their pool closes them.
        log.warning("cannot end the sessions of a retired login", role=name)


def _check_unmanaged_login(conn: psycopg.Connection[Any], plan: AccessPlan, me: str) -> None:
    login = _role(conn, plan.login)
    if login is None or not login.login:
        raise AccessError(
            f"role {plan.login} does not exist or cannot log in, and {me} may not create roles: "
            f"create it (LOGIN, member of {plan.group}) or grant {me} CREATEROLE"
        )
    if login.privileged:
        raise AccessError(f"role {plan.login} has attributes a login of the API must not have")
    if not _member(conn, plan.login, plan.group):
        raise AccessError(f"role {plan.login} must inherit {plan.group}: GRANT it")
    if plan.retired:
        raise AccessError(f"retiring logins needs CREATEROLE, which {me} does not have")


def _member(conn: psycopg.Connection[Any], role: str, group: str) -> bool:
    return bool(_scalar(conn, "SELECT pg_has_role(%s, %s, 'USAGE')", (role, group)))


def _grant(conn: psycopg.Connection[Any], group_name: str) -> None:
    group = sql.Identifier(group_name)
    schema = sql.Identifier(_scalar(conn, "SELECT current_schema()"))
    database = sql.Identifier(_scalar(conn, "SELECT current_database()"))
    statements = [
        # Every role may connect and create temporary tables by default (PUBLIC): the API's
        # group gets CONNECT explicitly and nobody gets TEMP. No-ops (warnings) unless we own
        # the database and the schema.
        "REVOKE TEMPORARY ON DATABASE {database} FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC",
        "GRANT CONNECT ON DATABASE {database} TO {group}",
        "GRANT USAGE ON SCHEMA {schema} TO {group}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {group}",
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {group}",
        # Tables and sequences the migration role creates from now on: granted as they appear.
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {group}",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT ON SEQUENCES TO {group}",
    ]
    for statement in statements:
        conn.execute(sql.SQL(statement).format(database=database, schema=schema, group=group))
    for table in BOOKKEEPING:
        if _scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (table,)):
            conn.execute(
                sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                    sql.Identifier(table), group
                )
            )


def _verify_login(conninfo: str, plan: AccessPlan) -> None:
    """Log in as the API will and read the revision: a wrong password fails here, not in pods."""
    try:
        with psycopg.connect(make_conninfo(conninfo, user=plan.login, password=plan.password)) as c:
            c.execute(CURRENT_REVISION_SQL).fetchall()
    except psycopg.Error as exc:
        # libpq's message names host, user and cause, never the password.
        message = f"{plan.login} cannot log in and read the schema revision: {exc}"
        raise AccessError(message) from None


def _scalar(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(query, params).fetchone()
    assert row is not None  # noqa: S101 - every query here returns one row
    return row[0]


def ensure_from_settings(settings: Settings) -> AccessReport | None:
    """`platform-migrate upgrade`'s last step; nothing to do without APP_POSTGRES_USER."""
    plan = AccessPlan.from_settings(settings)
    if plan is None:
        return None
    report = ensure_access(settings.conninfo(), plan, settings.migrate_lock_timeout_seconds)
    log.info(
        "database roles ensured",
        group=report.group,
        login=report.login,
        managed=report.managed,
        created=list(report.created),
        retired=list(report.retired),
    )
    return report
