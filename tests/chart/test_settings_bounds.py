"""The chart refuses every value the API would refuse at start-up, with the same bounds.

Everything here is derived from the settings class (app/config.py), so a bound changed in one
place and not the other fails this test instead of a pod at 3 a.m.
"""

from __future__ import annotations

import json
import re
from enum import Enum
from typing import Any

import pytest

from app.config import ORDERED_BOUNDS, PLACEHOLDER_PASSWORDS, Settings
from tests.chart.helm import CHART, CI_VALUES, RAW, RenderError, kustomize, render, render_file

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
CONFIG = SCHEMA["properties"]["config"]["properties"]
# Settings the chart sets from elsewhere than `config` (or that are the image's business).
NOT_IN_CONFIG = {
    "host",
    "port",
    "database_url",
    "postgres_host",
    "postgres_port",
    "postgres_db",
    "postgres_user",
    "postgres_password",
    "postgres_sslmode",
    "pgpassword",
    # Access (ADR 0050/0051): from `api.auth.*` and `database.auth.app.*`, Secrets and volumes.
    "api_tokens_dir",
    "api_auth_reads",
    "app_postgres_user",
    "app_postgres_password",
    "app_postgres_group",
    "app_postgres_retired_users",
}
CONSTRAINTS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def expected_schema(name: str) -> dict[str, Any]:
    """The JSON-schema fragment a setting's type and Field constraints translate to."""
    field = Settings.model_fields[name]
    if isinstance(field.annotation, type) and issubclass(field.annotation, Enum):
        return {"type": "string", "enum": [member.value for member in field.annotation]}
    out: dict[str, Any] = {"type": "integer" if field.annotation is int else "number"}
    for constraint in field.metadata:
        for attribute, keyword in CONSTRAINTS.items():
            if hasattr(constraint, attribute):
                out[keyword] = getattr(constraint, attribute)
    return out


TUNABLE = sorted(set(Settings.model_fields) - NOT_IN_CONFIG)


def test_the_chart_config_block_is_exactly_the_tunable_settings() -> None:
    assert sorted(CONFIG) == sorted(camel(name) for name in TUNABLE)


@pytest.mark.parametrize("name", TUNABLE)
def test_each_config_value_has_the_settings_type_and_bounds(name: str) -> None:
    schema = {key: value for key, value in CONFIG[camel(name)].items() if key != "description"}
    assert schema == expected_schema(name)


@pytest.mark.parametrize(
    ("path", "name"), [(("database", "port"), "postgres_port"), (("database", "sslMode"), None)]
)
def test_database_values_have_the_settings_bounds(path: tuple[str, str], name: str | None) -> None:
    node = SCHEMA["properties"][path[0]]["properties"][path[1]]
    if name is None:  # sslmode: a pattern in the settings, an enum in the schema
        pattern = Settings.model_fields["postgres_sslmode"].metadata[0].pattern
        modes = re.fullmatch(r"\^\((.*)\)\$", pattern).group(1).split("|")  # type: ignore[union-attr]
        # "" is the chart's own: the mode's default (disable bundled, require external).
        assert node["enum"] == ["", *modes]
    else:
        schema = {key: node[key] for key in ("type", "minimum", "maximum")}
        assert schema == expected_schema(name)


@pytest.mark.parametrize("name", [n for n in TUNABLE if expected_schema(n)["type"] != "string"])
def test_a_value_past_its_bound_is_refused_by_the_schema(name: str) -> None:
    bound = expected_schema(name)
    too_big = bound["maximum"] + 1
    with pytest.raises(RenderError, match="schema"):
        render({"config": {camel(name): too_big}})


@pytest.mark.parametrize(("low", "high", "strict"), ORDERED_BOUNDS)
def test_cross_field_rules_are_refused_at_render_time(low: str, high: str, strict: bool) -> None:
    upper = Settings.model_fields[high].default
    values = {"config": {camel(low): upper if strict else upper + 1, camel(high): upper}}
    with pytest.raises(RenderError, match=f"config.{camel(low)} must .* config.{camel(high)}"):
        render(values)


@pytest.mark.parametrize("placeholder", sorted(PLACEHOLDER_PASSWORDS))
def test_a_placeholder_password_is_refused_outside_development(placeholder: str) -> None:
    values = {"database": {"auth": {"password": placeholder.upper()}}}
    with pytest.raises(RenderError, match="placeholder"):
        render(values)
    render(values | {"config": {"appEnv": "development"}})


def _accepted_by_the_api(docs: list[dict[str, Any]]) -> int:
    """Validate every app ConfigMap with the API's own settings class; return how many."""
    checked = 0
    for configmap in (doc for doc in docs if doc["kind"] == "ConfigMap"):
        data = configmap.get("data") or {}
        if "APP_ENV" in data:
            env = {key.lower(): value for key, value in data.items()}
            Settings.model_validate(env | {"postgres_user": "u", "postgres_password": "a-real-one"})
            checked += 1
    return checked


@pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.name)
def test_every_rendered_configuration_is_one_the_api_accepts(values_file: Any) -> None:
    assert _accepted_by_the_api(render_file(values_file)) >= 1
    assert _accepted_by_the_api(render_file(values_file, is_upgrade=True)) >= 1


@pytest.mark.parametrize("overlay", sorted(p.name for p in (RAW / "overlays").iterdir()))
def test_the_raw_manifests_configuration_is_one_the_api_accepts(overlay: str) -> None:
    assert _accepted_by_the_api(kustomize(overlay)) == 1
