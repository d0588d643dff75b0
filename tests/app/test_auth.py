"""Write authentication: bearer tokens from files, 401 without one, 403 with a wrong one."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app import auth
from app.main import create_app
from tests.app.conftest import make_settings, token_dir
from tests.support import SCRIPTS, clean_env, serve, wait_ready

TOKEN = "current-token-0123456789abcdef"
PREVIOUS = "previous-token-0123456789abcdef"
WRITES = [
    ("POST", "/api/v1/items", {"name": "x"}),
    ("PATCH", "/api/v1/items/1", {"name": "y"}),
    ("DELETE", "/api/v1/items/1", None),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tokens(tmp_path: Path) -> Path:
    return token_dir(tmp_path, token=TOKEN, previous=PREVIOUS)


def started(url: str, tokens: Path, **overrides: object) -> TestClient:
    settings = make_settings(url, api_tokens_dir=str(tokens), **overrides)
    return TestClient(create_app(settings))


@pytest.fixture
def app_client(migrated_db: str, tokens: Path) -> Iterator[TestClient]:
    """An app with two accepted tokens and no default Authorization header, started and Ready."""
    with started(migrated_db, tokens) as client:
        # /db-check is 503 until the first readiness check ends; on a loaded machine the
        # test's first request can come before it.
        wait_ready(client, timeout=10)
        yield client


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_write_without_a_token_is_401_with_a_bearer_challenge(
    app_client: TestClient, method: str, path: str, body: object
) -> None:
    response = app_client.request(method, path, json=body)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_a_wrong_token_is_403(app_client: TestClient, method: str, path: str, body: object) -> None:
    response = app_client.request(method, path, json=body, headers=bearer("not-" + TOKEN))
    assert response.status_code == 403, response.text


def test_another_scheme_counts_as_no_token(app_client: TestClient) -> None:
    response = app_client.post(
        "/api/v1/items", json={"name": "x"}, headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert response.status_code == 401


def test_the_right_token_writes_and_the_scheme_is_case_insensitive(
    app_client: TestClient,
) -> None:
    created = app_client.post("/api/v1/items", json={"name": "ok"}, headers=bearer(TOKEN))
    assert created.status_code == 201, created.text
    item = created.json()["id"]
    headers = {"Authorization": f"bearer {TOKEN}"}
    patched = app_client.patch(f"/api/v1/items/{item}", json={"name": "ok2"}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert app_client.delete(f"/api/v1/items/{item}", headers=headers).status_code == 204


def test_both_tokens_of_a_rotation_are_accepted(app_client: TestClient) -> None:
    for n, token in enumerate((TOKEN, PREVIOUS)):
        response = app_client.post("/api/v1/items", json={"name": f"r{n}"}, headers=bearer(token))
        assert response.status_code == 201, response.text


def test_an_unauthenticated_invalid_body_is_401_and_reveals_nothing(
    app_client: TestClient,
) -> None:
    response = app_client.post("/api/v1/items", json={"name": 5, "extra": True})
    assert response.status_code == 401
    assert "name" not in response.text


def test_reads_and_probes_stay_open_by_default(app_client: TestClient) -> None:
    for path in ("/", "/health", "/db-check", "/api/v1/items", "/metrics"):
        assert app_client.get(path).status_code == 200, path
    assert app_client.get("/api/v1/items/1").status_code == 404


def test_reads_need_a_token_when_configured(migrated_db: str, tokens: Path) -> None:
    with started(migrated_db, tokens, api_auth_reads=True) as client:
        assert client.get("/api/v1/items").status_code == 401
        assert client.get("/api/v1/items/1", headers=bearer("wrong-" + TOKEN)).status_code == 403
        assert client.get("/api/v1/items", headers=bearer(PREVIOUS)).status_code == 200
        for path in ("/", "/health", "/metrics"):
            assert client.get(path).status_code == 200, path


def test_openapi_declares_the_bearer_scheme_on_writes(app_client: TestClient) -> None:
    schema = app_client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/api/v1/items"]["post"]["security"] == [{"bearer": []}]


def test_tokens_are_held_only_as_digests(tokens: Path) -> None:
    accepted = auth.TokenSet.from_directory(tokens)
    held = list(vars(accepted).values())
    assert TOKEN not in repr(held)
    assert PREVIOUS not in repr(held)
    assert sorted(accepted.digests) == sorted(
        hashlib.sha256(t.encode()).digest() for t in (TOKEN, PREVIOUS)
    )


def test_every_digest_is_compared_in_constant_time(
    tokens: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("app.auth.hmac.compare_digest", spy)
    accepted = auth.TokenSet.from_directory(tokens)
    assert accepted.accepts(TOKEN)
    assert not accepted.accepts("nope-" + TOKEN)
    # Every stored digest is compared, even after a match: the time does not say which one.
    assert len(calls) == 4
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_hidden_entries_and_empty_files_are_not_tokens(tmp_path: Path) -> None:
    # A mounted Secret volume holds `..data` and timestamped directories next to the keys.
    directory = token_dir(tmp_path, token=TOKEN)
    (directory / "..data").mkdir()
    (directory / "..data" / "token").write_text("hidden-token-0123456789")
    (directory / "empty").write_text("\n")
    accepted = auth.TokenSet.from_directory(directory)
    assert len(accepted.digests) == 1


def test_no_token_ever_reaches_the_log(migrated_db: str, tokens: Path) -> None:
    with serve(migrated_db, API_TOKENS_DIR=str(tokens)) as server, server.client() as client:
        wait_ready(client, timeout=20)
        for token in (TOKEN, "wrong-" + TOKEN, PREVIOUS):
            client.post("/api/v1/items", json={"name": token[:20]}, headers=bearer(token))
            client.post("/api/v1/items", json={"name": 5}, headers=bearer(token))
            client.get("/nowhere", headers=bearer(token))
        code, output = server.terminate()
    assert code == 0
    assert '"status": 403' in output, output
    for token in (TOKEN, "wrong-" + TOKEN, PREVIOUS):
        assert token not in output


def _server_exit(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPTS / "platform-api")],
        env=clean_env(DATABASE_URL="postgresql://u@127.0.0.1:1/d", **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_refuses_to_start_without_a_token_source() -> None:
    result = _server_exit(APP_ENV="production")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: API_TOKENS_DIR: required when APP_ENV=production "
        "(bearer tokens for writes)"
    ]


@pytest.mark.parametrize("problem", ["missing", "empty", "short"])
def test_an_unusable_token_source_exits_2_in_one_line_without_the_token(
    tmp_path: Path, problem: str
) -> None:
    directory = tmp_path / "tokens"
    if problem != "missing":
        directory.mkdir()
    if problem == "short":
        (directory / "token").write_text("s3cr3t-shrt\n")
    result = _server_exit(APP_ENV="staging", API_TOKENS_DIR=str(directory))
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("invalid configuration: API_TOKENS_DIR: "), line
    assert "s3cr3t" not in result.stdout + result.stderr
