"""Reading the dump step's listings: real output of the server's own tools, and what must be
refused."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from localpg import LocalPostgres

from app.backup import dumpinfo, pgtools
from app.revisions.window import CodeRevisions
from tests.backup.conftest import dump

TOC = """;
; Archive created at 2026-12-02 06:11:35 UTC
;     dbname: platform
;     TOC Entries: 17
;     Compression: gzip
;     Dump Version: 1.15-0
;     Format: CUSTOM
;     Integer: 4 bytes
;     Offset: 8 bytes
;     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)
;     Dumped by pg_dump version: 17.12 (Debian 17.12-0+deb13u1)
;
;
; Selected TOC Entries:
;
216; 1259 16394 TABLE public alembic_version platform
"""
REVISION = """\\restrict abc
COPY "public"."alembic_version" ("version_num") FROM stdin;
0002_add_item_description
\\.

COPY "public"."schema_revisions" ("revision", "parent", "kind", "applied_at") FROM stdin;
0001_create_items\t\\N\tcontract\t2026-12-02 06:11:34.844368+00
0002_add_item_description\t0001_create_items\texpand\t2026-12-02 06:11:34.844368+00
\\.
\\unrestrict abc
"""


@pytest.fixture(scope="module")
def listings(
    pg: LocalPostgres, migrated_template: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """What the dump step leaves behind for the migrated template database."""
    workdir = tmp_path_factory.mktemp("dumpinfo")
    dump(pg.url.rsplit("/", 1)[0] + f"/{migrated_template}", workdir)
    return workdir


def test_real_listings_describe_the_dump(listings: Path, migrated_template: str) -> None:
    header = dumpinfo.parse_toc((listings / pgtools.TOC).read_text())
    assert header.database == migrated_template
    assert header.server_major == header.pg_dump_major >= 15
    assert header.created_at is not None
    assert abs((datetime.now(UTC) - header.created_at).total_seconds()) < 600
    revision = dumpinfo.parse_revision((listings / pgtools.REVISION).read_text())
    assert revision == dumpinfo.SchemaRevision(
        revision=CodeRevisions.load().head, parent="0001_create_items", kind="expand"
    )


def test_header_of_a_15_server_dumped_by_17_tools() -> None:
    header = dumpinfo.parse_toc(TOC)
    assert (header.server_major, header.pg_dump_major) == (15, 17)
    assert header.created_at == datetime(2026, 12, 2, 6, 11, 35, tzinfo=UTC)
    assert (header.compression, header.archive_version) == ("gzip", "1.15-0")


def test_a_local_time_zone_is_not_guessed() -> None:
    header = dumpinfo.parse_toc(TOC.replace("06:11:35 UTC", "07:11:35 CET"))
    assert header.created_at is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no dbname, Format"),
        (TOC.replace("CUSTOM", "DIRECTORY"), "DIRECTORY format, not CUSTOM"),
        (TOC.replace("version: 15.18", "version: devel"), "unrecognised PostgreSQL version"),
        (TOC.replace(";     dbname: platform\n", ""), "no dbname"),
    ],
)
def test_a_header_that_does_not_describe_a_custom_dump_is_refused(text: str, message: str) -> None:
    with pytest.raises(dumpinfo.DumpInfoError, match=message):
        dumpinfo.parse_toc(text)


def test_revision_and_its_ledger_entry() -> None:
    assert dumpinfo.parse_revision(REVISION) == dumpinfo.SchemaRevision(
        revision="0002_add_item_description", parent="0001_create_items", kind="expand"
    )


def test_no_schema_and_a_revision_without_ledger_row() -> None:
    assert dumpinfo.parse_revision("") == dumpinfo.SchemaRevision(revision=None)
    only_version = REVISION.split("\n\n", maxsplit=1)[0]
    assert dumpinfo.parse_revision(only_version) == dumpinfo.SchemaRevision(
        revision="0002_add_item_description"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (REVISION.replace("0002_add_item_description\n\\.", "a\nb\n\\."), "2 rows"),
        (REVISION.split("\\.", maxsplit=1)[0], "not terminated"),
        (REVISION.replace("\texpand\t", "\tex\\tpand\t"), "kind holds characters"),
        (REVISION.replace("\tcontract\t", "\tcontract\textra\t"), "has 5 fields"),
    ],
)
def test_revision_rows_this_code_cannot_read_are_refused(text: str, message: str) -> None:
    with pytest.raises(dumpinfo.DumpInfoError, match=message):
        dumpinfo.parse_revision(text)
