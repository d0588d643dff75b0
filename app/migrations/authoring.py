"""`alembic revision`: the project's revision ids, file names and expand/contract kind.

Alembic's defaults (random hex ids) would break the history's ordering by eye and the date-prefixed
file names (`YYYY_MM_DD_NNNN_slug.py`, `file_template` in pyproject.toml); this assigns the next
`NNNN_slug` id and asks for the kind up front, since the readiness window depends on it.
"""

from __future__ import annotations

import re

from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

KINDS = ("expand", "contract")
_NUMBER = re.compile(r"(\d{4})_")


def kind_from(x_arguments: dict[str, str]) -> str:
    """The kind passed as `-x kind=expand|contract`, refused in one line when missing or wrong."""
    kind = x_arguments.get("kind")
    if kind not in KINDS:
        given = "missing" if kind is None else f"{kind!r}"
        raise CommandError(
            f"-x kind=expand|contract is required (got {given}); see docs/migrations.md"
        )
    return kind


def next_revision_id(script: ScriptDirectory, message: str | None) -> str:
    """`NNNN_slug`: one more than the current head's number, the message as a slug."""
    head = script.get_current_head()
    number = 0
    if head is not None:
        match = _NUMBER.match(head)
        if match is None:
            raise CommandError(f"head revision {head!r} does not start with NNNN_")
        number = int(match.group(1))
    slug = re.sub(r"[^a-z0-9]+", "_", (message or "").lower()).strip("_")
    if not slug:
        raise CommandError('a message is required: alembic revision -m "what it does"')
    return f"{number + 1:04d}_{slug}"


def process_revision_directives(
    context: MigrationContext, revision: object, directives: list[MigrationScript]
) -> None:
    """Give each new script the next `NNNN_slug` id (Alembic's hook, see env.py)."""
    assert context.script is not None  # noqa: S101  # alembic revision always supplies it
    for directive in directives:
        directive.rev_id = next_revision_id(context.script, directive.message)
