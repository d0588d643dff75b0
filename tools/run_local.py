"""`make run`: a throwaway PostgreSQL (unless DATABASE_URL is set), migrations, then the API.

Ctrl-C (or SIGTERM) stops the API, then the database, then deletes the database's files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from localpg import LocalPostgres


def main() -> int:
    env = dict(os.environ)
    database: LocalPostgres | None = None
    if "DATABASE_URL" not in env:
        database = LocalPostgres().init()
        env["DATABASE_URL"] = database.url
        print(f"local PostgreSQL on 127.0.0.1:{database.port} (data in {database.root})")
    # SIGTERM becomes KeyboardInterrupt, so both paths run the same cleanup.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        migrated = subprocess.run(["platform-migrate", "upgrade"], env=env, check=False)
        if migrated.returncode != 0:
            return migrated.returncode
        api = subprocess.Popen(["platform-api"], env=env)
        try:
            return api.wait()
        except KeyboardInterrupt:
            api.send_signal(signal.SIGTERM)
            return api.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        if database is not None:
            database.remove()
            print("local PostgreSQL stopped and removed")


if __name__ == "__main__":
    sys.exit(main())
