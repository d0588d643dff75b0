"""The commands the database image runs, and the files they leave in the shared work directory.

`pg_dump` must be the server's major version or newer, and `pg_restore` at least the dump's, so
both run in a container of the *database* image (ADR 0012), never in the app image. They talk to
the app-image steps through one directory (an emptyDir in Kubernetes):

    backup:  pg_dump -> db.dump, pg_restore --list -> db.toc,
             pg_restore --data-only (2 tables) -> db.revision.sql;
             then `platform-backup upload DIR` reads the three files
    restore: `platform-backup fetch DIR` -> db.dump (verified), then pg_restore into the database

The argv are built here, once: the tests run exactly these, and the chart renders the same.
Connection parameters come from libpq's environment (PGHOST, PGUSER, PGPASSWORD, ...) unless
`dbname` (a name or a libpq URL) is given.
"""

from __future__ import annotations

from pathlib import Path

DUMP = "db.dump"
TOC = "db.toc"
REVISION = "db.revision.sql"
# The tables whose rows say which schema revision the dump holds (app/revisions/window.py).
REVISION_TABLES = ("alembic_version", "schema_revisions")
# pg_dump takes ACCESS SHARE locks on every table: they never block the API's reads or writes,
# only DDL. Behind a migration's ACCESS EXCLUSIVE lock it gives up after this, visibly, instead of
# queueing forever.
LOCK_WAIT_TIMEOUT = "60s"


def dump_commands(workdir: Path, dbname: str | None = None) -> list[list[str]]:
    """pg_dump into `workdir`, then the two listings `upload` reads, in order."""
    dump = str(workdir / DUMP)
    return [
        [
            "pg_dump",
            "--format=custom",
            # Quoted identifiers restore into a newer major whatever words it has reserved since.
            "--quote-all-identifiers",
            f"--lock-wait-timeout={LOCK_WAIT_TIMEOUT}",
            f"--file={dump}",
            *([f"--dbname={dbname}"] if dbname else []),
        ],
        # The archive's own header: database, creation time, server and pg_dump versions.
        ["pg_restore", "--list", f"--file={workdir / TOC}", dump],
        # The revision rows *from the dump*: read from the live database instead, a migration
        # that ran during the dump would be recorded against data it never touched.
        [
            "pg_restore",
            "--data-only",
            *(f"--table={table}" for table in REVISION_TABLES),
            f"--file={workdir / REVISION}",
            dump,
        ],
    ]


def restore_command(workdir: Path, dbname: str, *, force: bool = False) -> list[str]:
    """pg_restore of a fetched (verified) dump: one transaction, so a failure changes nothing.

    Ownership and grants are the restoring role's: the backup may come from an install whose
    user had another name. `force` (a non-empty database) drops the objects the backup contains
    before recreating them, in the same transaction.
    """
    return [
        "pg_restore",
        "--single-transaction",
        "--exit-on-error",
        "--no-owner",
        "--no-privileges",
        *(["--clean", "--if-exists"] if force else []),
        f"--dbname={dbname}",
        str(workdir / DUMP),
    ]
