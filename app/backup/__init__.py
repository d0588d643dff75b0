"""Backups and restore: the `platform-backup` CLI (app image side of ADR 0012).

The database side (`pg_dump`, `pg_restore`) runs in the database's own image, whose tools match
the server's major version; this package builds the commands it runs (`pgtools`), reads what
they leave in the shared work directory, and does everything else: checksum, manifest, upload,
retention, download, verification and the refusals that keep a restore from doing harm.
"""
