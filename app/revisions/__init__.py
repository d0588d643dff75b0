"""The schema-compatibility rule and the database's revision: the one home both sides share.

The API's readiness loop (async), `platform-migrate` and `platform-backup` (sync) all ask the same
question: may this code serve that schema? This package answers it and imports neither the API,
the CLIs nor Alembic, so the API never loads Alembic and no caller can form an import cycle
through it (tests/app/test_import_graph.py).
"""
