"""`platform-backup`: the app-image half of backups and restores (ADR 0012).

    upload DIR         manifest + checksum for the dump pg_dump left in DIR, upload, retention
    prune              retention only
    list               complete backups, newest first, one JSON object per line
    verify [--backup]  download into a temporary directory and check the checksum and the schema
    fetch DIR          the restore's first step: refusals, download, checksum; DIR/db.dump only
                       when every check passed

Every failure is one JSON log line and an exit code a Job's status shows.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path

import psycopg

from app.backup import dumpinfo, layout, pgtools, retention, safety
from app.backup.manifest import Manifest, ManifestError, describe
from app.backup.settings import BackupSettings, load_backup_settings
from app.backup.store import Target, TargetError, TargetUnreachableError, open_target
from app.config import ConfigError, get_settings
from app.logs import configure_logging, get_logger
from app.migrate import runner
from app.migrate.errors import DatabaseUnreachableError
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions

log = get_logger("platform.backup")
APPLICATION_NAME = "platform-backup"
MANIFEST_COPY = "manifest.json"
# pg_dump's custom format starts with these bytes.
CUSTOM_FORMAT_MAGIC = b"PGDMP"


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    CONFIG = 2
    UNREACHABLE = 3
    REFUSED = 4
    TERMINATED = 143  # 128 + SIGTERM


class TerminatedError(BaseException):
    """SIGTERM arrived. A BaseException, so no `except Exception` swallows it on the way out."""


class BackupFailedError(Exception):
    """The backup cannot be made from what the work directory holds."""


def _terminate(signum: int, frame: object) -> None:
    raise TerminatedError


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().split("\n", 1)[0] or type(exc).__name__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-backup",
        description="Upload, list, prune, verify and fetch database backups. Configuration comes "
        "from the environment (BACKUP_*; the database from DATABASE_URL or POSTGRES_*).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    upload = commands.add_parser("upload", help="describe, checksum and upload DIR/db.dump")
    upload.add_argument("workdir", type=Path, metavar="DIR")
    upload.add_argument("--no-prune", action="store_true", help="skip retention afterwards")
    commands.add_parser("prune", help="delete the backups retention no longer keeps")
    commands.add_parser("list", help="complete backups, newest first")
    verify = commands.add_parser(
        "verify", help="check a backup's checksum and schema without touching the database"
    )
    fetch = commands.add_parser(
        "fetch", help="download a verified backup into DIR for pg_restore, after the refusals"
    )
    fetch.add_argument("workdir", type=Path, metavar="DIR")
    fetch.add_argument(
        "--force",
        action="store_true",
        help="allow a non-empty database (pg_restore must then run with --clean --if-exists)",
    )
    fetch.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait this long for the database; 0 waits forever "
        "(default: BACKUP_DB_WAIT_TIMEOUT_SECONDS)",
    )
    for sub in (verify, fetch):
        sub.add_argument(
            "--backup", default="latest", metavar="ID", help="a backup id, or latest (default)"
        )
    return parser


def _read_listing(workdir: Path, name: str) -> str:
    path = workdir / name
    if not path.is_file():
        raise BackupFailedError(f"no {name} in {workdir}: the dump step did not complete")
    return path.read_text(encoding="utf-8")


def upload(settings: BackupSettings, workdir: Path, *, prune: bool) -> ExitCode:
    """Manifest, checksum, upload (dump first, manifest last), then retention."""
    started = time.monotonic()
    dump = workdir / pgtools.DUMP
    if not dump.is_file():
        raise BackupFailedError(f"no {pgtools.DUMP} in {workdir}: the dump step did not complete")
    with dump.open("rb") as handle:
        if handle.read(len(CUSTOM_FORMAT_MAGIC)) != CUSTOM_FORMAT_MAGIC:
            raise BackupFailedError(
                f"{dump} is empty or not a pg_dump custom-format archive: "
                "the dump step did not complete"
            )
    header = dumpinfo.parse_toc(_read_listing(workdir, pgtools.TOC))
    schema = dumpinfo.parse_revision(_read_listing(workdir, pgtools.REVISION))
    now = datetime.now(UTC)
    backup_id = layout.new_id(now)
    manifest = describe(
        backup_id,
        created_at=now,
        dump=dump,
        header=header,
        schema=schema,
        dump_name=layout.dump_name(backup_id),
    )
    target = open_target(settings)
    stored = target.put_file(layout.dump_name(backup_id), dump)
    if stored != manifest.dump.size:
        raise TargetError(f"the target holds {stored} bytes of a {manifest.dump.size}-byte dump")
    target.put_bytes(layout.manifest_name(backup_id), manifest.to_json())
    log.info(
        "backup uploaded",
        id=backup_id,
        target=target.description,
        database=manifest.database,
        revision=schema.revision,
        server_version=header.server_version,
        size_bytes=manifest.dump.size,
        sha256=manifest.dump.sha256,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    if prune:
        _prune(settings, target, now)
    return ExitCode.OK


def _prune(settings: BackupSettings, target: Target, now: datetime) -> None:
    entries = target.entries()
    max_age = settings.backup_max_age_days
    doomed = retention.expired(
        entries,
        now,
        settings.backup_keep_last,
        timedelta(days=max_age) if max_age is not None else None,
    )
    for entry in doomed:
        target.delete(entry.names)
    log.info(
        "retention applied",
        target=target.description,
        keep_last=settings.backup_keep_last,
        max_age_days=max_age,
        kept=sum(1 for e in entries if e.complete and e not in doomed),
        deleted=[entry.id for entry in doomed],
    )


def _resolve(target: Target, wanted: str) -> tuple[layout.Entry, Manifest]:
    """The complete backup `wanted` names (an id, or latest) and its manifest."""
    complete = [entry for entry in target.entries() if entry.complete]
    if wanted == "latest":
        if not complete:
            raise BackupFailedError(f"no complete backup in {target.description}")
        entry = complete[0]
    else:
        layout.id_time(wanted)
        found = [e for e in complete if e.id == wanted]
        if not found:
            raise BackupFailedError(f"no complete backup {wanted} in {target.description}")
        entry = found[0]
    manifest = Manifest.from_json(target.read_small(layout.manifest_name(entry.id)))
    if manifest.id != entry.id or manifest.dump.name != layout.dump_name(entry.id):
        raise safety.RestoreRefusedError(f"the manifest of {entry.id} describes another backup")
    return entry, manifest


def _download_verified(target: Target, manifest: Manifest, destination: Path) -> None:
    """Download the dump beside `destination`; rename it there only if the checksum matches."""
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        size, sha256 = target.download(manifest.dump.name, partial)
        if (size, sha256) != (manifest.dump.size, manifest.dump.sha256):
            raise safety.RestoreRefusedError(
                f"backup {manifest.id} fails its checksum: {size} bytes with sha256 {sha256}, "
                f"the manifest says {manifest.dump.size} bytes with sha256 {manifest.dump.sha256}"
            )
        partial.replace(destination)
    finally:
        partial.unlink(missing_ok=True)


def verify(settings: BackupSettings, wanted: str) -> ExitCode:
    """Everything a restore checks except the database: manifest, schema window, checksum."""
    target = open_target(settings)
    _, manifest = _resolve(target, wanted)
    verdict = safety.check_schema(manifest, CodeRevisions.load(MIGRATIONS_DIR))
    with tempfile.TemporaryDirectory(prefix="platform-backup-verify-") as scratch:
        _download_verified(target, manifest, Path(scratch) / pgtools.DUMP)
    log.info(
        "backup verified",
        id=manifest.id,
        size_bytes=manifest.dump.size,
        sha256=manifest.dump.sha256,
        schema=verdict.reason,
    )
    return ExitCode.OK


def fetch(
    settings: BackupSettings, workdir: Path, wanted: str, *, force: bool, timeout: float | None
) -> ExitCode:
    """The refusals first (cheap), then the download; DIR/db.dump exists only when verified."""
    started = time.monotonic()
    destination = workdir / pgtools.DUMP
    # A dump left by an earlier attempt must never be restored in place of this one.
    destination.unlink(missing_ok=True)
    database = get_settings()
    target = open_target(settings)
    _, manifest = _resolve(target, wanted)
    verdict = safety.check_schema(manifest, CodeRevisions.load(MIGRATIONS_DIR))
    conninfo = database.conninfo(APPLICATION_NAME)
    runner.wait_for_database(
        conninfo, settings.backup_db_wait_timeout_seconds if timeout is None else timeout
    )
    state = safety.inspect_database(conninfo)
    safety.check_database(state, manifest, force=force)
    _download_verified(target, manifest, destination)
    (workdir / MANIFEST_COPY).write_bytes(manifest.to_json())
    log.info(
        "backup fetched and verified",
        id=manifest.id,
        target=target.description,
        database=state.name,
        forced=force and bool(state.relations),
        schema=verdict.reason,
        size_bytes=manifest.dump.size,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    return ExitCode.OK


def list_backups(settings: BackupSettings) -> ExitCode:
    target = open_target(settings)
    for entry in target.entries():
        if entry.complete:
            manifest = Manifest.from_json(target.read_small(layout.manifest_name(entry.id)))
            print(
                json.dumps(
                    {
                        "id": entry.id,
                        "created_at": manifest.created_at.isoformat(),
                        "database": manifest.database,
                        "revision": manifest.schema_revision.revision,
                        "server_version": manifest.server_version,
                        "size_bytes": manifest.dump.size,
                    }
                )
            )
    return ExitCode.OK


def _failure(exc: Exception) -> ExitCode:
    """One log line and the exit code for an expected failure."""
    if isinstance(exc, safety.RestoreRefusedError):
        log.error("refused; nothing was written", reason=_first_line(exc))
        return ExitCode.REFUSED
    unreachable = DatabaseUnreachableError | TargetUnreachableError | psycopg.OperationalError
    if isinstance(exc, unreachable):
        log.error("giving up: not reachable", error=_first_line(exc))
        return ExitCode.UNREACHABLE
    log.error("failed", error=_first_line(exc))
    return ExitCode.FAILED


def run(argv: Sequence[str]) -> ExitCode:
    """Parse, configure, dispatch; map every failure to an exit code and one log line."""
    args = _parser().parse_args(argv)
    try:
        settings = load_backup_settings()
        if args.command == "fetch":
            get_settings()  # the database's configuration, checked before anything else
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.CONFIG
    configure_logging(settings.log_level)
    commands: dict[str, Callable[[], ExitCode]] = {
        "upload": lambda: upload(settings, args.workdir, prune=not args.no_prune),
        "prune": lambda: _pruned(settings),
        "list": lambda: list_backups(settings),
        "verify": lambda: verify(settings, args.backup),
        "fetch": lambda: fetch(
            settings, args.workdir, args.backup, force=args.force, timeout=args.timeout
        ),
    }
    try:
        return commands[args.command]()
    except (
        BackupFailedError,
        dumpinfo.DumpInfoError,
        ManifestError,
        TargetError,
        safety.RestoreRefusedError,
        DatabaseUnreachableError,
        psycopg.Error,
        OSError,
        ValueError,
    ) as exc:
        return _failure(exc)
    except Exception as exc:
        log.error("failed unexpectedly", error=_first_line(exc), exc_info=True)
        return ExitCode.FAILED
    except TerminatedError:
        # An upload cut short leaves a dump without a manifest: incomplete, pruned later.
        log.error("terminated by SIGTERM; nothing more was written")
        return ExitCode.TERMINATED


def _pruned(settings: BackupSettings) -> ExitCode:
    _prune(settings, open_target(settings), datetime.now(UTC))
    return ExitCode.OK


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(sys.argv[1:]))
