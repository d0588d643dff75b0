"""psql and HTTP calls made from inside the platform's pods (no port-forward needed)."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.cluster.kube import Kube
from tests.e2e.chart import Obj


def psql(kube: Kube, pod: str, sql: str) -> str:
    """Run SQL with psql inside the PostgreSQL pod (local socket, the pod's own user and db)."""
    out = kube.run(
        "exec", pod, "-c", "postgres", "--", "sh", "-c",
        'psql -X -v ON_ERROR_STOP=1 -At -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c "$1"', "psql", sql,
    )  # fmt: skip
    return out.strip()


def schema_state(kube: Kube, pod: str) -> dict[str, Any]:
    """alembic_version, the revision ledger and the tables the e2e migrations may create."""
    current = psql(kube, pod, "SELECT version_num FROM alembic_version")
    ledger = psql(kube, pod, "SELECT revision FROM schema_revisions ORDER BY applied_at, revision")
    tables = psql(
        kube, pod,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    )  # fmt: skip
    return {"current": current, "ledger": ledger.split(), "tables": tables.split()}


# What the API's connections log in as (TCP clients; the test's own psql uses the local socket).
LOGINS_SQL = (
    "SELECT string_agg(DISTINCT a.usename || ':' || r.rolsuper, ',') FROM pg_stat_activity a "
    "JOIN pg_roles r ON r.rolname = a.usename "
    "WHERE a.client_addr IS NOT NULL AND a.backend_type = 'client backend'"
)


def database_logins(kube: Kube, pod: str) -> set[str]:
    """`role:is_superuser` of every TCP session the database has: who the API logs in as."""
    return set(filter(None, psql(kube, pod, LOGINS_SQL).split(",")))


API_CALL = """
import json, sys, urllib.error, urllib.request
method, path, body, token = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
headers = {"Content-Type": "application/json"}
if token:
    headers["Authorization"] = "Bearer " + token
request = urllib.request.Request("http://127.0.0.1:8000" + path, method=method,
    data=body.encode() if body else None, headers=headers)
try:
    with urllib.request.urlopen(request, timeout=10) as response:
        status, payload = response.status, response.read()
except urllib.error.HTTPError as error:
    status, payload = error.code, error.read()
print(json.dumps({"status": status, "body": payload.decode()}))
"""


TOKEN_SECRET = "platform-api-token"


def secret_value(kube: Kube, secret: str, key: str) -> str:
    """One key of a Secret, decoded."""
    data = kube.get("secret", secret)["data"]
    return base64.b64decode(data[key]).decode()


def api_token(kube: Kube, secret: str = TOKEN_SECRET, key: str = "token") -> str:
    """The writers' bearer token, read from its Secret as every writer does."""
    return secret_value(kube, secret, key)


def api_call(
    kube: Kube, pod: str, method: str, path: str, body: Obj | None = None, *, token: str = ""
) -> tuple[int, Any]:
    """An HTTP request to the API from inside one API pod (no port-forward needed)."""
    out = kube.run(
        "exec", pod, "-c", "api", "--", "python", "-c", API_CALL, method, path,
        json.dumps(body) if body is not None else "", token,
    )  # fmt: skip
    result = json.loads(out.strip().splitlines()[-1])
    text = result["body"]
    try:
        return int(result["status"]), json.loads(text)
    except json.JSONDecodeError:
        return int(result["status"]), text
