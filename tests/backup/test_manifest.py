"""The manifest's JSON: written once, read back strictly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.backup import dumpinfo
from app.backup.manifest import Manifest, ManifestError, describe

HEADER = dumpinfo.ArchiveHeader(
    database="platform",
    created_at=datetime(2026, 12, 2, 6, 0, tzinfo=UTC),
    server_version="15.18",
    pg_dump_version="15.18",
    archive_version="1.14-0",
    compression="gzip",
    server_major=15,
    pg_dump_major=15,
)
SCHEMA = dumpinfo.SchemaRevision(revision="0002_x", parent="0001_y", kind="expand")


@pytest.fixture
def manifest(tmp_path: Path) -> Manifest:
    dump = tmp_path / "db.dump"
    dump.write_bytes(b"PGDMP" + bytes(range(256)) * 5000)
    now = datetime(2026, 12, 2, 6, 1, tzinfo=UTC)
    return describe(
        "20261202T060100.000000Z",
        created_at=now,
        dump=dump,
        header=HEADER,
        schema=SCHEMA,
        dump_name="x.dump",
    )


def test_describe_records_size_and_sha256(manifest: Manifest, tmp_path: Path) -> None:
    data = (tmp_path / "db.dump").read_bytes()
    assert manifest.dump.size == len(data)
    assert manifest.dump.sha256 == hashlib.sha256(data).hexdigest()
    assert manifest.schema_revision.revision == "0002_x"
    assert manifest.server_major == 15


def test_json_round_trip(manifest: Manifest) -> None:
    document = json.loads(manifest.to_json())
    assert document["format_version"] == 1
    assert document["created_at"] == "2026-12-02T06:01:00Z"
    assert Manifest.from_json(manifest.to_json()) == manifest


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.update(format_version=2), "format_version"),
        (lambda d: d.update(surprise=True), "surprise"),
        (lambda d: d["dump"].update(sha256="F" * 64), "dump.sha256"),
        (lambda d: d["dump"].update(size=-1), "dump.size"),
        (lambda d: d["schema_revision"].update(kind="sideways"), "schema_revision.kind"),
        (lambda d: d.pop("database"), "database"),
    ],
)
def test_a_manifest_this_code_does_not_fully_understand_is_refused(
    manifest: Manifest, change: object, where: str
) -> None:
    document = json.loads(manifest.to_json())
    change(document)  # type: ignore[operator]
    with pytest.raises(ManifestError, match=f"invalid manifest: {where}"):
        Manifest.from_json(json.dumps(document).encode())


def test_not_json_at_all() -> None:
    with pytest.raises(ManifestError, match="invalid manifest"):
        Manifest.from_json(b"\x00\xff not json")
