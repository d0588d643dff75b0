"""Bearer tokens for the write endpoints (and, when configured, for reads).

Tokens come from files: API_TOKENS_DIR is a directory (a mounted Secret) in which every visible,
non-empty file holds one accepted token, so a rotation's overlap is a second key of the Secret.
The process keeps only SHA-256 digests and compares a presented token's digest with every one
of them through `hmac.compare_digest`, so neither the comparison nor the number of tokens before
a match shows in the response time. No token is ever logged: the access line has no headers, and
the errors raised here carry no input. See docs/decisions/0050-write-authentication.md.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.config import ConfigError, Environment, Settings

# Shorter than this is guessable, or a placeholder someone forgot to replace.
TOKEN_MIN_LENGTH = 16

# Reads the header and declares the scheme in OpenAPI; the errors below are ours (auto_error
# would answer 403 for a missing header, where RFC 6750 asks for a 401 with a challenge).
_bearer = HTTPBearer(scheme_name="bearer", auto_error=False)


class TokenSet:
    """The accepted tokens, as digests only."""

    def __init__(self, digests: frozenset[bytes]) -> None:
        self.digests = digests

    @classmethod
    def from_directory(cls, directory: Path) -> TokenSet:
        """Read every token file; a ConfigError names the variable, never a token."""
        if not directory.is_dir():
            raise _config_error(f"{directory} is not a directory")
        digests = set()
        # Names starting with "." are a Secret volume's own (`..data`, timestamped directories).
        for path in sorted(p for p in directory.iterdir() if not p.name.startswith(".")):
            if not path.is_file():
                continue
            token = path.read_text().strip()
            if not token:
                continue
            if len(token) < TOKEN_MIN_LENGTH:
                raise _config_error(
                    f"the token in {path.name!r} is shorter than {TOKEN_MIN_LENGTH} characters"
                )
            digests.add(_digest(token))
        if not digests:
            raise _config_error(f"no token in {directory}")
        return cls(frozenset(digests))

    def accepts(self, token: str) -> bool:
        presented = _digest(token)
        matched = False
        for known in self.digests:
            matched |= hmac.compare_digest(presented, known)
        return matched


def load_tokens(settings: Settings) -> TokenSet | None:
    """The accepted tokens; None (writes open) only outside production with no source set."""
    if settings.api_tokens_dir is None:
        if settings.app_env is Environment.PRODUCTION:
            raise _config_error("required when APP_ENV=production (bearer tokens for writes)")
        if settings.api_auth_reads:
            raise _config_error("required when API_AUTH_READS is true")
        return None
    return TokenSet.from_directory(settings.api_tokens_dir)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _config_error(message: str) -> ConfigError:
    return ConfigError(f"invalid configuration: API_TOKENS_DIR: {message}")


def _check(request: Request, credentials: HTTPAuthorizationCredentials | None) -> None:
    tokens = cast(TokenSet | None, request.app.state.tokens)
    if tokens is None:
        return
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not tokens.accepts(credentials.credentials):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the bearer token is not valid")


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def require_writer(request: Request, credentials: Credentials) -> None:
    """Every write needs an accepted token (unless no token source is configured at all)."""
    _check(request, credentials)


async def require_reader(request: Request) -> None:
    """Reads need a token only with API_AUTH_READS=true.

    The header is read here only when reads are protected, not through a sub-dependency: every
    read pays for this check, and resolving one would cost more than the rest of it.
    """
    if cast(Settings, request.app.state.settings).api_auth_reads:
        _check(request, await _bearer(request))


WriterAuth = Depends(require_writer)
ReaderAuth = Depends(require_reader)
