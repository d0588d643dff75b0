"""values.schema.json: typos and bad values fail at install time, with Helm 3 and Helm 4."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # pyyaml ships no stubs

from tests.chart.helm import CHART, RenderError, render

BAD_VALUES = {
    "unknown top-level key": {"replicas": 3},
    "typo in a nested key": {"api": {"replicaCont": 3}},
    "unknown migration mode": {"migration": {"mode": "sometimes"}},
    "unknown database mode": {"database": {"mode": "cloud"}},
    "malformed digest": {"image": {"digest": "latest"}},
    "bad pull policy": {"image": {"pullPolicy": "Sometimes"}},
    "port out of range": {"service": {"port": 70000}},
    "resources without limits": {"api": {"resources": {"limits": None}}},
    "backup max age as a duration": {
        "metrics": {"prometheusRule": {"alerts": {"backupMaxAgeSeconds": "26h"}}}
    },
    "backup max age of 0": {"metrics": {"prometheusRule": {"alerts": {"backupMaxAgeSeconds": 0}}}},
}


@pytest.mark.parametrize("helm", ["helm", "helm4"])
@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_the_schema_rejects(values: dict[str, Any], helm: str) -> None:
    with pytest.raises(RenderError, match="schema"):
        render(values, helm=helm)


def schema_paths(node: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, child in node.get("properties", {}).items():
        paths.add(prefix + key)
        if child.get("additionalProperties") is False:
            paths |= schema_paths(child, f"{prefix}{key}.")
    return paths


def value_paths(node: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, child in node.items():
        paths.add(prefix + key)
        sub = schema.get("properties", {}).get(key, {})
        if isinstance(child, dict) and sub.get("additionalProperties") is False:
            paths |= value_paths(child, sub, f"{prefix}{key}.")
    return paths


def test_every_value_is_in_the_schema_and_every_owned_schema_property_has_a_default() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert value_paths(values, schema) == schema_paths(schema) - {"global"}


def test_every_schema_property_has_a_description() -> None:
    def walk(node: dict[str, Any], path: str) -> None:
        for key, child in node.get("properties", {}).items():
            assert child.get("description"), f"{path}{key} has no description"
            walk(child, f"{path}{key}.")

    walk(json.loads((CHART / "values.schema.json").read_text()), "")
