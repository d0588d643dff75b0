"""`platform-migrate`: the command the migration Job, initContainers and `make migrate` run."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path

from app.config import ConfigError, Settings, get_settings
from app.logs import configure_logging, get_logger
from app.migrate import roles, runner
from app.migrate.errors import DatabaseUnreachableError, LockTimeoutError
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions, SchemaState

log = get_logger("platform.migrate")
APPLICATION_NAME = "platform-migrate"


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    CONFIG = 2
    UNREACHABLE = 3
    LOCKED = 4
    TERMINATED = 143  # 128 + SIGTERM, what a shell would report


class TerminatedError(BaseException):
    """SIGTERM arrived. A BaseException, so no `except Exception` swallows it on the way out."""


def _terminate(signum: int, frame: object) -> None:
    # As PID 1 in a container a process without a handler never sees SIGTERM: the pod would
    # wait out its whole grace period. Unwinding instead rolls back any open transaction.
    raise TerminatedError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="platform-migrate",
        description="Wait for PostgreSQL, then upgrade or check the schema. "
        "Configuration comes from the environment (DATABASE_URL or POSTGRES_*).",
    )
    parser.set_defaults(command="upgrade", timeout=None, schema=False)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("upgrade", help="wait, lock, upgrade to head (the default)")
    commands.add_parser("check", help="exit 0 only if the schema is compatible with this code")
    wait = commands.add_parser("wait", help="wait until the database answers")
    wait.add_argument(
        "--schema", action="store_true", help="also wait until the schema is compatible"
    )
    for sub in commands.choices.values():
        sub.add_argument(
            "--timeout",
            type=float,
            default=None,
            metavar="SECONDS",
            help="give up waiting for the database after this long; 0 waits forever "
            "(default: MIGRATE_WAIT_TIMEOUT_SECONDS)",
        )
    return parser


def _upgrade(settings: Settings, timeout: float, script_location: Path) -> ExitCode:
    started = time.monotonic()
    runner.wait_for_database(settings.conninfo(APPLICATION_NAME), timeout)
    result = runner.upgrade(
        settings.conninfo(APPLICATION_NAME),
        settings.migrate_lock_timeout_seconds,
        script_location,
        settings.migrate_ddl_lock_timeout_seconds,
    )
    roles.ensure_from_settings(settings)
    if result.applied:
        event = "schema upgraded"
    elif result.before.state is SchemaState.AHEAD_COMPATIBLE:
        event = "schema ahead of this code, within the compatibility window: nothing to do"
    else:
        event = "schema already at head"
    log.info(
        event,
        applied=result.applied,
        current=result.before.current,
        head=result.before.head,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    return ExitCode.OK


def _remaining(deadline: float | None) -> float | None:
    """Seconds left before `deadline` (None: no deadline), never zero, which would mean none."""
    return None if deadline is None else max(0.001, deadline - time.monotonic())


def _check(settings: Settings, timeout: float, script_location: Path) -> ExitCode:
    deadline = time.monotonic() + timeout if timeout else None
    conninfo = settings.conninfo(APPLICATION_NAME)
    runner.wait_for_database(conninfo, timeout)
    verdict = runner.check(conninfo, CodeRevisions.load(script_location), _remaining(deadline))
    log.info(
        "schema check",
        current=verdict.current,
        head=verdict.head,
        state=verdict.state.value,
        compatible=verdict.compatible,
    )
    return ExitCode.OK if verdict.compatible else ExitCode.FAILED


def _wait(settings: Settings, timeout: float, schema: bool, script_location: Path) -> ExitCode:
    deadline = time.monotonic() + timeout if timeout else None
    conninfo = settings.conninfo(APPLICATION_NAME)
    runner.wait_for_database(conninfo, timeout)
    if not schema:
        log.info("database ready")
        return ExitCode.OK
    code = CodeRevisions.load(script_location)
    while True:
        verdict = runner.check(conninfo, code, _remaining(deadline))
        if verdict.compatible:
            log.info("schema ready", current=verdict.current, head=verdict.head)
            return ExitCode.OK
        if deadline is not None and time.monotonic() >= deadline:
            log.error("schema not ready before the deadline", reason=verdict.reason)
            return ExitCode.UNREACHABLE
        log.info("waiting for the schema", reason=verdict.reason)
        time.sleep(2)


def run(argv: Sequence[str], script_location: Path = MIGRATIONS_DIR) -> ExitCode:
    """Parse, configure, dispatch; map every failure to an exit code and one log line."""
    args = _parser().parse_args(argv)
    try:
        settings = get_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.CONFIG
    configure_logging(settings.log_level)
    timeout = settings.migrate_wait_timeout_seconds if args.timeout is None else args.timeout
    commands = {
        "check": lambda: _check(settings, timeout, script_location),
        "wait": lambda: _wait(settings, timeout, args.schema, script_location),
        "upgrade": lambda: _upgrade(settings, timeout, script_location),
    }
    try:
        return commands[args.command or "upgrade"]()
    except roles.AccessError as exc:
        log.error("database roles not ensured", error=str(exc))
        return ExitCode.FAILED
    except (DatabaseUnreachableError, LockTimeoutError) as exc:
        log.error("giving up", error=str(exc))
        unreachable = isinstance(exc, DatabaseUnreachableError)
        return ExitCode.UNREACHABLE if unreachable else ExitCode.LOCKED
    except Exception as exc:
        log.error("migration failed, transaction rolled back", error=str(exc), exc_info=True)
        return ExitCode.FAILED
    except TerminatedError:
        log.error("terminated by SIGTERM; nothing was committed by this run")
        return ExitCode.TERMINATED


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    sys.exit(run(sys.argv[1:]))
