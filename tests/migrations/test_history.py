"""The migration scripts follow the project's conventions, and `alembic revision` keeps them."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.migrate.apply import alembic_config
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ScriptDirectory.from_config(alembic_config())
FILE_NAME = re.compile(r"\d{4}_\d{2}_\d{2}_(\d{4}_[a-z0-9_]+)\.py")


def assert_file_names_are_date_prefixed(migrations: Path) -> None:
    names = sorted(p.name for p in (migrations / "versions").glob("*.py"))
    assert names, "no migration scripts found"
    for name in names:
        assert FILE_NAME.fullmatch(name), name


def assert_every_revision_declares_expand_or_contract(script: ScriptDirectory) -> None:
    for revision in script.walk_revisions():
        assert getattr(revision.module, "kind", None) in {"expand", "contract"}, revision.revision


def assert_single_head(script: ScriptDirectory) -> None:
    assert len(script.get_heads()) == 1


def test_file_names_are_date_prefixed() -> None:
    assert_file_names_are_date_prefixed(MIGRATIONS_DIR)


def test_every_revision_declares_expand_or_contract() -> None:
    assert_every_revision_declares_expand_or_contract(SCRIPT)


def test_history_has_a_single_head() -> None:
    assert_single_head(SCRIPT)


def test_the_apis_reading_of_the_graph_matches_alembics() -> None:
    code = CodeRevisions.load()
    assert code.head == SCRIPT.get_current_head()
    assert code.known == {script.revision for script in SCRIPT.walk_revisions()}


def _project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(ROOT / "app", copy / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _alembic(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


@pytest.mark.parametrize("kind", ["expand", "contract"])
def test_alembic_revision_writes_the_next_script_the_rules_accept(
    tmp_path: Path, kind: str
) -> None:
    copy = _project_copy(tmp_path)
    old_head = SCRIPT.get_current_head()
    assert old_head is not None
    done = _alembic(copy, "-x", f"kind={kind}", "revision", "-m", "Add item tags!")
    assert done.returncode == 0, done.stderr
    script = ScriptDirectory.from_config(alembic_config(copy / "app" / "migrations"))
    new_head = script.get_current_head()
    assert new_head is not None
    new = script.get_revision(new_head)
    assert new is not None
    assert new.revision == f"{int(old_head[:4]) + 1:04d}_add_item_tags"
    assert new.down_revision == old_head
    assert new.module.kind == kind
    match = FILE_NAME.fullmatch(Path(new.path).name)
    assert match, new.path
    assert match.group(1) == new.revision
    assert_file_names_are_date_prefixed(copy / "app" / "migrations")
    assert_every_revision_declares_expand_or_contract(script)
    assert_single_head(script)


@pytest.mark.parametrize("kind_args", [[], ["-x", "kind=sideways"]])
def test_alembic_revision_without_a_valid_kind_is_refused_in_one_line(
    tmp_path: Path, kind_args: list[str]
) -> None:
    copy = _project_copy(tmp_path)
    done = _alembic(copy, *kind_args, "revision", "-m", "Add item tags")
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "-x kind=expand|contract is required" in lines[0]
    assert sorted(p.name for p in (copy / "app/migrations/versions").glob("*.py")) == sorted(
        p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py")
    )
