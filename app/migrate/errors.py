"""Why a migration run stopped: the CLI maps each to its exit code (docs/interfaces.md)."""


class DatabaseUnreachableError(Exception):
    """The database did not answer a real query before the deadline."""


class LockTimeoutError(Exception):
    """Another runner held the migration lock for longer than we were allowed to wait."""


class SchemaAheadError(Exception):
    """The database is at a revision this code does not know and cannot safely serve."""
