"""The manifest stored beside each dump: what it is, where it came from, and its checksum.

Read back strictly (unknown keys, wrong types and other format versions are refused): a restore
decides on these fields, so a manifest it cannot fully understand is not one it can trust.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.backup import dumpinfo

SHA256_HEX = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
CHUNK = 1024 * 1024


class ManifestError(ValueError):
    """A manifest that is not valid JSON of this format."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SchemaInfo(_Strict):
    revision: str | None
    parent: str | None
    kind: Annotated[str, Field(pattern=r"^(expand|contract)$")] | None


class DumpFile(_Strict):
    name: str
    size: Annotated[int, Field(ge=0)]
    sha256: SHA256_HEX
    format: Literal["custom"] = "custom"
    compression: str
    archive_version: str


class Manifest(_Strict):
    format_version: Literal[1] = 1
    id: str
    created_at: datetime
    dumped_at: datetime | None
    database: str
    server_version: str
    server_major: int
    pg_dump_version: str
    schema_revision: SchemaInfo
    dump: DumpFile

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            # JSON mode: ISO timestamps are accepted as datetimes despite strict mode.
            return cls.model_validate_json(data, strict=True)
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in error["loc"])
            raise ManifestError(
                f"invalid manifest: {where or 'document'}: {error['msg']}"
            ) from None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(
    backup_id: str,
    *,
    created_at: datetime,
    dump: Path,
    header: dumpinfo.ArchiveHeader,
    schema: dumpinfo.SchemaRevision,
    dump_name: str,
) -> Manifest:
    """The manifest of a dump file, from its bytes and the listings of it."""
    return Manifest(
        id=backup_id,
        created_at=created_at,
        dumped_at=header.created_at,
        database=header.database,
        server_version=header.server_version,
        server_major=header.server_major,
        pg_dump_version=header.pg_dump_version,
        schema_revision=SchemaInfo(
            revision=schema.revision, parent=schema.parent, kind=schema.kind
        ),
        dump=DumpFile(
            name=dump_name,
            size=dump.stat().st_size,
            sha256=sha256_of(dump),
            compression=header.compression,
            archive_version=header.archive_version,
        ),
    )
