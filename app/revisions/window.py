"""The compatibility window: may code whose newest revision is `head` serve this schema?

Rule (docs/decisions/0005-schema-compatibility-window.md):
- at head: yes;
- behind head (a revision this code ships, but older): no, the code needs what is missing;
- one step ahead, where that step's parent is our head and it is an *expand* step: yes, so old
  pods stay Ready while a rollout's expand migration has run and new pods are starting;
- anything else (two steps ahead, a contract step, an unknown branch, no schema): no.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from app.revisions.database import DatabaseRevision

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


class SchemaState(StrEnum):
    EMPTY = "empty"
    BEHIND = "behind"
    AT_HEAD = "at_head"
    AHEAD_COMPATIBLE = "ahead_compatible"
    INCOMPATIBLE = "incompatible"


@dataclass(frozen=True)
class CodeRevisions:
    """The revisions this code ships: its head and every ancestor."""

    head: str
    known: frozenset[str]

    @classmethod
    def load(cls, script_location: Path = MIGRATIONS_DIR) -> CodeRevisions:
        """Read `revision`/`down_revision` from the scripts without importing Alembic.

        The API needs only the graph; importing Alembic and SQLAlchemy for it would add most of
        a second to start-up and tens of MB to every pod. tests/migrations/test_history.py
        checks that this reading agrees with Alembic's own.
        """
        parents = dict(
            _revision_and_parent(path) for path in (script_location / "versions").glob("*.py")
        )
        heads = set(parents) - set(parents.values())
        if len(heads) != 1:
            raise RuntimeError(f"expected one head in {script_location}, found {sorted(heads)}")
        return cls(head=heads.pop(), known=frozenset(parents))


@dataclass(frozen=True)
class Compatibility:
    """The window rule's answer for one database: its state, and whether this code may serve it."""

    state: SchemaState
    current: str | None
    head: str

    @property
    def compatible(self) -> bool:
        return self.state in (SchemaState.AT_HEAD, SchemaState.AHEAD_COMPATIBLE)

    @property
    def reason(self) -> str:
        return f"schema {self.state.value}: current={self.current or 'none'} head={self.head}"


def evaluate(code: CodeRevisions, db: DatabaseRevision) -> Compatibility:
    """Apply the window rule; pure, so it is tested exhaustively without a database."""
    if db.current is None:
        state = SchemaState.EMPTY
    elif db.current == code.head:
        state = SchemaState.AT_HEAD
    elif db.current in code.known:
        state = SchemaState.BEHIND
    elif db.parent == code.head and db.kind == "expand":
        state = SchemaState.AHEAD_COMPATIBLE
    else:
        state = SchemaState.INCOMPATIBLE
    return Compatibility(state=state, current=db.current, head=code.head)


def _revision_and_parent(path: Path) -> tuple[str, str | None]:
    values: dict[str, object] = {}
    target: ast.expr
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            values[target.id] = ast.literal_eval(value)
    revision, parent = values.get("revision"), values.get("down_revision")
    if not isinstance(revision, str) or not (parent is None or isinstance(parent, str)):
        raise RuntimeError(f"{path.name}: revision/down_revision must be string literals")
    return revision, parent
