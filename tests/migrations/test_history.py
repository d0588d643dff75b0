"""The shipped migration scripts follow the project's conventions."""

from __future__ import annotations

import re

from alembic.script import ScriptDirectory

from app.migrate.apply import alembic_config
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions

SCRIPT = ScriptDirectory.from_config(alembic_config())


def test_file_names_are_date_prefixed() -> None:
    names = sorted(p.name for p in (MIGRATIONS_DIR / "versions").glob("*.py"))
    assert names, "no migration scripts found"
    for name in names:
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}_[a-z0-9_]+\.py", name), name


def test_every_revision_declares_expand_or_contract() -> None:
    for script in SCRIPT.walk_revisions():
        assert getattr(script.module, "kind", None) in {"expand", "contract"}, script.revision


def test_history_has_a_single_head() -> None:
    assert len(SCRIPT.get_heads()) == 1


def test_the_apis_reading_of_the_graph_matches_alembics() -> None:
    code = CodeRevisions.load()
    assert code.head == SCRIPT.get_current_head()
    assert code.known == {script.revision for script in SCRIPT.walk_revisions()}
