"""Both targets behind one object-store API: obstore's `LocalStore` and `S3Store` (ADR 0013).

Both give atomic puts (a reader never sees half an object: S3 by its protocol, the filesystem by
writing a temporary file and renaming it), so the same upload and prune code runs against a
mounted volume and a bucket. obstore's errors are mapped to two kinds with one-line messages:
unreachable (retrying later may help) and everything else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import LocalStore, S3Store

from app.backup.layout import Entry, group
from app.backup.settings import BackupSettings, TargetKind

if TYPE_CHECKING:
    from obstore.store import ClientConfig, RetryConfig, S3Config

# Bounded everywhere: an unreachable store fails the Job within about a minute, not after the
# library's default of three minutes of retries.
RETRY: RetryConfig = {
    "max_retries": 3,
    "retry_timeout": timedelta(seconds=60),
    "backoff": {
        "init_backoff": timedelta(milliseconds=200),
        "max_backoff": timedelta(seconds=5),
        "base": 2,
    },
}
# Multipart chunks in flight at once: bounds the upload's memory (4 x 8 MiB).
CHUNK_SIZE = 8 * 1024 * 1024
MAX_CONCURRENCY = 4
# A manifest is a few hundred bytes; anything far larger is not one.
MAX_MANIFEST_BYTES = 1024 * 1024
UNREACHABLE_MARKERS = ("error sending request", "timed out", "connection refused", "dns error")
MAX_MESSAGE = 400
# Everything obstore raises: its own errors and the built-in OSError family.
STORE_ERRORS = (BaseError, OSError)


class TargetError(Exception):
    """The target refused or failed an operation; the message is one line without secrets."""


class TargetUnreachableError(TargetError):
    """Nothing answered (or not in time): retrying later may succeed."""


class ObjectMissingError(TargetError):
    """The object named does not exist."""


def _one_line(exc: BaseException) -> str:
    # obstore appends a multi-line "Debug source" dump; the paragraph before it says what
    # happened (with the server's error document, e.g. <Code>NoSuchBucket</Code>).
    summary = " ".join(str(exc).split("\n\nDebug source", 1)[0].split())
    return (summary[:MAX_MESSAGE] or type(exc).__name__).strip()


def _mapped(exc: Exception) -> TargetError:
    message = _one_line(exc)
    # obstore raises the built-in FileNotFoundError for a missing object or bucket.
    if isinstance(exc, NotFoundError | FileNotFoundError):
        return ObjectMissingError(message)
    if any(marker in message.lower() for marker in UNREACHABLE_MARKERS):
        return TargetUnreachableError(message)
    return TargetError(message)


@dataclass(frozen=True)
class Target:
    """One configured target; `description` names it without credentials."""

    store: S3Store | LocalStore
    description: str

    def entries(self) -> list[Entry]:
        """The backups here, newest first (one level: a shared directory's subdirectories, such
        as a volume's lost+found, are not descended into)."""
        try:
            listing = obstore.list_with_delimiter(self.store)
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None
        return group((meta["path"], meta["size"]) for meta in listing["objects"])

    def put_file(self, name: str, path: Path) -> int:
        """Upload a file (multipart above CHUNK_SIZE); return the size the target reports."""
        try:
            obstore.put(
                self.store, name, path, chunk_size=CHUNK_SIZE, max_concurrency=MAX_CONCURRENCY
            )
            size: int = obstore.head(self.store, name)["size"]
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None
        return size

    def put_bytes(self, name: str, data: bytes) -> None:
        try:
            obstore.put(self.store, name, data)
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None

    def read_small(self, name: str) -> bytes:
        """A small object (a manifest), whole; larger than MAX_MANIFEST_BYTES is an error."""
        try:
            result = obstore.get(self.store, name)
            if result.meta["size"] > MAX_MANIFEST_BYTES:
                raise TargetError(f"{name} is {result.meta['size']} bytes: not a manifest")
            return bytes(result.bytes())
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None

    def download(self, name: str, destination: Path) -> tuple[int, str]:
        """Stream an object into `destination`; return its size and sha256."""
        digest = hashlib.sha256()
        size = 0
        try:
            result = obstore.get(self.store, name)
            with destination.open("wb") as out:
                for chunk in result.stream(min_chunk_size=CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None
        return size, digest.hexdigest()

    def delete(self, names: list[str]) -> None:
        """Delete in the order given (see `Entry.names`)."""
        try:
            for name in names:
                obstore.delete(self.store, name)
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None


def _s3(settings: BackupSettings) -> Target:
    endpoint = settings.backup_s3_endpoint
    client: ClientConfig = {
        "connect_timeout": timedelta(seconds=min(10.0, settings.backup_s3_timeout_seconds)),
        "timeout": timedelta(seconds=settings.backup_s3_timeout_seconds),
        # An http:// endpoint is an explicit choice (an in-cluster store behind a NetworkPolicy).
        "allow_http": bool(endpoint and endpoint.startswith("http://")),
    }
    if settings.backup_s3_ca_file is not None:
        client["root_certificate"] = settings.backup_s3_ca_file.read_text()
    config: S3Config = {
        "region": settings.backup_s3_region,
        "virtual_hosted_style_request": settings.backup_s3_virtual_hosted_style,
    }
    if endpoint:
        config["endpoint"] = endpoint
    # Without keys, obstore's own chain applies (AWS_* variables, web identity, instance role).
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        config["access_key_id"] = settings.aws_access_key_id.get_secret_value()
        config["secret_access_key"] = settings.aws_secret_access_key.get_secret_value()
    store = S3Store(
        settings.backup_s3_bucket,
        prefix=settings.backup_s3_prefix or None,
        config=config,
        client_options=client,
        retry_config=RETRY,
    )
    where = f"{endpoint or 'aws'}/{settings.backup_s3_bucket}/{settings.backup_s3_prefix}"
    return Target(store=store, description=f"s3 {where.rstrip('/')}")


def open_target(settings: BackupSettings) -> Target:
    """The configured target. Nothing is contacted yet: the first operation reports problems."""
    if settings.backup_target is TargetKind.S3:
        try:
            return _s3(settings)
        except STORE_ERRORS as exc:
            raise _mapped(exc) from None
    directory = settings.backup_dir
    if directory is None:  # the settings' validator already refused this
        raise TargetError("BACKUP_DIR is not set")
    try:
        store = LocalStore(directory)
    except STORE_ERRORS as exc:
        raise _mapped(exc) from None
    return Target(store=store, description=f"filesystem {directory}")
