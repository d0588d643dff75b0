"""DATABASE_URL: parsed the way libpq will read it, refused with messages that never quote it.

libpq's own parse errors quote the string they fail on, and that string carries the password: a
malformed URL must never reach a log line through them. So the URL is parsed here, once, at
start-up, and every failure is reported in words of our own. Option values libpq only checks when
it connects (a port, sslmode) are checked here too, so a bad URL fails at start-up, not at the
first request.
"""

from __future__ import annotations

from psycopg import ProgrammingError
from psycopg.conninfo import conninfo_to_dict

SCHEMES = ("postgresql://", "postgres://")
SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# libpq options whose values are integers (checked by libpq only when it connects).
INTEGER_OPTIONS = frozenset(
    {
        "connect_timeout",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
    }
)
# libpq's parse errors, by a stable fragment, with what to tell the user instead.
PARSE_ERRORS = (
    ("percent-encoded", "has an invalid percent-escape (%XX)"),
    ("query parameter", "has an unknown or malformed query parameter"),
    ("IPv6", "has an unterminated IPv6 host ([...])"),
)


class DatabaseUrlError(ValueError):
    """A malformed DATABASE_URL; the message names what is wrong, never the URL's content."""


def parse(url: str) -> dict[str, str]:
    """The URL's libpq options (password included: keep the result out of logs)."""
    if not url.startswith(SCHEMES):
        raise DatabaseUrlError(
            "must start with postgresql:// or postgres:// (a SQLAlchemy-style scheme such as "
            "postgresql+psycopg:// is not a libpq URL)"
        )
    if any(char.isspace() for char in url):
        raise DatabaseUrlError("contains whitespace (percent-encode it as %20)")
    try:
        options = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    except ProgrammingError as exc:
        message = str(exc)
        reason = next((text for key, text in PARSE_ERRORS if key in message), None)
        raise DatabaseUrlError(reason or "is not a valid libpq connection URL") from None
    _check_values(options)
    return options


def _check_values(options: dict[str, str]) -> None:
    if not options.get("host") and not options.get("hostaddr"):
        raise DatabaseUrlError("names no host")
    if "#" in options.get("dbname", ""):
        raise DatabaseUrlError("has a fragment (#...); percent-encode # as %23")
    for port in options.get("port", "").split(","):
        if port and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise DatabaseUrlError("has a port that is not a number from 1 to 65535")
    if options.get("sslmode", "prefer") not in SSLMODES:
        raise DatabaseUrlError(f"sslmode must be one of {', '.join(sorted(SSLMODES))}")
    for key in INTEGER_OPTIONS & options.keys():
        if not options[key].isdigit():
            raise DatabaseUrlError(f"{key} must be a non-negative integer")
