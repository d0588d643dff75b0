"""The compatibility window rule, exhaustively, without a database."""

from __future__ import annotations

import pytest

from app.revisions.database import DatabaseRevision
from app.revisions.window import CodeRevisions, SchemaState, evaluate

CODE = CodeRevisions(head="0002", known=frozenset({"0001", "0002"}))


@pytest.mark.parametrize(
    ("db", "state", "compatible"),
    [
        (DatabaseRevision(current=None), SchemaState.EMPTY, False),
        (DatabaseRevision(current="0001"), SchemaState.BEHIND, False),
        (DatabaseRevision(current="0002", parent="0001", kind="expand"), SchemaState.AT_HEAD, True),
        (
            DatabaseRevision("0003", parent="0002", kind="expand"),
            SchemaState.AHEAD_COMPATIBLE,
            True,
        ),
        (DatabaseRevision("0003", parent="0002", kind="contract"), SchemaState.INCOMPATIBLE, False),
        (DatabaseRevision("0004", parent="0003", kind="expand"), SchemaState.INCOMPATIBLE, False),
        (DatabaseRevision("zzzz", parent=None, kind=None), SchemaState.INCOMPATIBLE, False),
    ],
)
def test_window_accepts_head_and_one_expand_step_ahead_only(
    db: DatabaseRevision, state: SchemaState, compatible: bool
) -> None:
    verdict = evaluate(CODE, db)
    assert verdict.state is state
    assert verdict.compatible is compatible
    assert f"current={db.current or 'none'}" in verdict.reason


def test_shipped_history_is_linear_with_one_head_and_declared_kinds() -> None:
    code = CodeRevisions.load()
    assert code.head == "0002_add_item_description"
    assert code.known == {"0001_create_items", "0002_add_item_description"}
