"""NetworkPolicies of the chart and the raw manifests: ingress and egress, exactly what each
component needs (docs/decisions/0023-network-policies.md)."""

from __future__ import annotations

from functools import reduce
from typing import Any

import pytest

from tests.chart.helm import Manifest, RenderError, find, kustomize, render
from tests.e2e.chart import deep_merge

DNS_PEER: Manifest = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_RULE: Manifest = {
    "to": [DNS_PEER],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}
DATABASE_RULE: Manifest = {
    "to": [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "platform",
                    "app.kubernetes.io/instance": "platform",
                    "app.kubernetes.io/component": "database",
                }
            }
        }
    ],
    "ports": [{"port": 5432, "protocol": "TCP"}],
}
BACKUP: dict[str, Any] = {"backup": {"enabled": True}}
EXTERNAL: dict[str, Any] = {
    "database": {
        "mode": "external",
        "host": "db.example.com",
        "port": 6432,
        "auth": {"existingSecret": "db-credentials"},
    }
}


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of values dicts, later ones winning."""
    return reduce(deep_merge, parts, {})


def s3(endpoint: str) -> dict[str, Any]:
    """Backups on, to an S3 target at this endpoint ("" is AWS)."""
    return {
        "backup": {
            "enabled": True,
            "target": "s3",
            "s3": {"endpoint": endpoint, "bucket": "platform-backups", "existingSecret": "s3"},
        }
    }


def policy(values: dict[str, Any], name: str, *, is_upgrade: bool = False) -> Manifest:
    spec: Manifest = find(render(values, is_upgrade=is_upgrade), "NetworkPolicy", name)["spec"]
    return spec


def policies(docs: list[Manifest]) -> list[Manifest]:
    return [doc for doc in docs if doc["kind"] == "NetworkPolicy"]


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, In/NotIn/Exists/DoesNotExist) matches these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        matched = {
            "In": key in labels and labels[key] in expression.get("values", []),
            "NotIn": key not in labels or labels[key] not in expression.get("values", []),
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def pod_templates(docs: list[Manifest]) -> dict[str, dict[str, str]]:
    """The labels of every pod the resources create, keyed by kind/name (CronJobs included)."""
    templates: dict[str, dict[str, str]] = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "Pod":
            templates[f"{kind}/{name}"] = doc["metadata"]["labels"]
        elif kind in ("Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet"):
            templates[f"{kind}/{name}"] = doc["spec"]["template"]["metadata"]["labels"]
        elif kind == "CronJob":
            template = doc["spec"]["jobTemplate"]["spec"]["template"]
            templates[f"{kind}/{name}"] = template["metadata"]["labels"]
    return templates


def egress_ports(spec: Manifest) -> list[Any]:
    return [port["port"] for rule in spec.get("egress", []) for port in rule.get("ports", [])]


# Every mode that renders a different set of pods: hook install and upgrade, job mode, backups to
# both targets, a restore, the external database.
MODES: dict[str, tuple[dict[str, Any], bool]] = {
    "hook install": ({}, False),
    "hook upgrade": ({}, True),
    "job mode": ({"migration": {"mode": "job"}}, True),
    "backups to a claim": (BACKUP, True),
    "backups to S3 and a restore": (
        merged(s3("http://versitygw:7070"), {"restore": {"from": "latest"}}),
        False,
    ),
    "external database": (merged(EXTERNAL, BACKUP), False),
}


@pytest.mark.parametrize("mode", MODES)
def test_every_pod_the_chart_renders_is_selected_by_a_policy_restricting_its_egress(
    mode: str,
) -> None:
    values, is_upgrade = MODES[mode]
    docs = render(values, is_upgrade=is_upgrade)
    templates = pod_templates(docs)
    assert templates
    egress = [p["spec"] for p in policies(docs) if "Egress" in p["spec"]["policyTypes"]]
    ingress = [p["spec"] for p in policies(docs) if "Ingress" in p["spec"]["policyTypes"]]
    for name, labels in templates.items():
        assert any(selects(p["podSelector"], labels) for p in egress), f"{name}: egress open"
        assert any(selects(p["podSelector"], labels) for p in ingress), f"{name}: ingress open"


def test_every_pod_of_the_raw_manifests_is_selected_by_a_policy_restricting_its_egress() -> None:
    for overlay in ("dev", "prod"):
        docs = kustomize(overlay)
        egress = [p["spec"] for p in policies(docs) if "Egress" in p["spec"]["policyTypes"]]
        for name, labels in pod_templates(docs).items():
            assert any(selects(p["podSelector"], labels) for p in egress), (overlay, name)


@pytest.mark.parametrize(
    "name", ["platform-api", "platform-jobs", "platform-test", "platform-postgres"]
)
def test_each_component_policy_covers_ingress_and_egress(name: str) -> None:
    assert policy({}, name)["policyTypes"] == ["Ingress", "Egress"]


def test_the_backup_policy_covers_ingress_and_egress_and_admits_no_ingress() -> None:
    spec = policy(BACKUP, "platform-backup")
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in spec


def test_the_api_reaches_dns_and_the_database_and_nothing_else() -> None:
    spec = policy({}, "platform-api")
    assert spec["egress"] == [DNS_RULE, DATABASE_RULE]
    assert spec["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]


def test_api_extra_egress_is_appended_verbatim() -> None:
    extra = {"to": [{"ipBlock": {"cidr": "10.9.0.0/16"}}], "ports": [{"port": 4317}]}
    spec = policy({"api": {"extraEgress": [extra]}}, "platform-api")
    assert spec["egress"] == [DNS_RULE, DATABASE_RULE, extra]


def test_prometheus_scrapes_the_port_the_api_ingress_admits() -> None:
    values = {
        "metrics": {
            "serviceMonitor": {"force": True},
            "podMonitor": {"enabled": True, "force": True},
        }
    }
    docs = render(values)
    (admitted,) = policy(values, "platform-api")["ingress"][0]["ports"]
    service_port = find(docs, "Service", "platform-api")["spec"]["ports"][0]
    assert [e["port"] for e in find(docs, "ServiceMonitor")["spec"]["endpoints"]] == [
        service_port["name"]
    ]
    assert service_port["targetPort"] == admitted["port"]
    assert [e["port"] for e in find(docs, "PodMonitor")["spec"]["podMetricsEndpoints"]] == [
        admitted["port"]
    ]


def test_migration_and_test_pods_accept_nothing_and_reach_dns_and_the_database() -> None:
    spec = policy({}, "platform-jobs")
    assert "ingress" not in spec
    assert spec["egress"] == [DNS_RULE, DATABASE_RULE]


def test_the_test_pod_also_reaches_the_api_pods_on_their_container_port() -> None:
    docs = render()
    spec = policy({}, "platform-test")
    assert "ingress" not in spec
    (rule,) = spec["egress"]
    (peer,) = rule["to"]
    assert peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"
    (container,) = find(docs, "Deployment", "platform-api")["spec"]["template"]["spec"][
        "containers"
    ]
    (http,) = container["ports"]
    assert rule["ports"] == [{"port": http["containerPort"], "protocol": "TCP"}]
    test_labels = find(docs, "Pod", "platform-test")["metadata"]["labels"]
    assert selects(spec["podSelector"], test_labels)
    api_labels = find(docs, "Deployment", "platform-api")["spec"]["template"]["metadata"]["labels"]
    assert not selects(spec["podSelector"], api_labels)


def test_the_database_reaches_dns_only() -> None:
    spec = policy({}, "platform-postgres")
    assert spec["egress"] == [DNS_RULE]


@pytest.mark.parametrize(
    "values", [{}, BACKUP, merged(s3(""), EXTERNAL)], ids=["default", "backup", "external s3"]
)
def test_every_egress_port_is_a_number(values: dict[str, Any]) -> None:
    for doc in policies(render(values)):
        for port in egress_ports(doc["spec"]):
            assert isinstance(port, int), (doc["metadata"]["name"], port)


def test_dns_peers_are_a_value() -> None:
    local = [{"ipBlock": {"cidr": "169.254.20.10/32"}}, DNS_PEER]
    docs = render({"networkPolicy": {"dnsPeers": local}})
    for doc in policies(docs):
        if doc["metadata"]["name"] != "platform-test":
            assert doc["spec"]["egress"][0]["to"] == local, doc["metadata"]["name"]


def test_backups_to_a_claim_reach_dns_and_the_database_only() -> None:
    assert policy(BACKUP, "platform-backup")["egress"] == [DNS_RULE, DATABASE_RULE]


@pytest.mark.parametrize(
    ("endpoint", "port"),
    [
        ("https://s3.example.com", 443),
        ("http://versitygw:7070", 7070),
        ("", 443),
        ("http://gw", 80),
    ],
    ids=["https without a port", "http with a port", "AWS", "http without a port"],
)
def test_backups_to_s3_reach_the_port_of_the_endpoint_anywhere(endpoint: str, port: int) -> None:
    spec = policy(s3(endpoint), "platform-backup")
    assert spec["egress"] == [
        DNS_RULE,
        DATABASE_RULE,
        {"ports": [{"port": port, "protocol": "TCP"}]},
    ]


def test_object_store_peers_narrow_and_backup_extra_egress_extends() -> None:
    peers = [{"ipBlock": {"cidr": "192.0.2.0/24"}}]
    extra = {"to": [{"ipBlock": {"cidr": "198.51.100.7/32"}}], "ports": [{"port": 8080}]}
    values = merged(
        s3("https://s3.example.com"),
        {"backup": {"extraEgress": [extra]}, "networkPolicy": {"objectStorePeers": peers}},
    )
    (*_, store, appended) = policy(values, "platform-backup")["egress"]
    assert store == {"ports": [{"port": 443, "protocol": "TCP"}], "to": peers}
    assert appended == extra


def test_a_restore_from_s3_gives_the_migration_pod_the_object_store() -> None:
    values = merged(s3("http://versitygw:7070"), {"restore": {"from": "latest"}})
    docs = render(values)
    spec = find(docs, "NetworkPolicy", "platform-restore")["spec"]
    assert spec["egress"] == [{"ports": [{"port": 7070, "protocol": "TCP"}]}]
    (job,) = [doc for doc in docs if doc["kind"] == "Job"]
    assert selects(spec["podSelector"], job["spec"]["template"]["metadata"]["labels"])
    test_labels = find(docs, "Pod", "platform-test")["metadata"]["labels"]
    assert not selects(spec["podSelector"], test_labels)


@pytest.mark.parametrize(
    ("values", "is_upgrade"),
    [
        ({"restore": {"from": "latest"}}, False),
        (merged(s3("http://versitygw:7070"), {"restore": {"from": "latest"}}), True),
        (s3("http://versitygw:7070"), False),
    ],
    ids=["restore from a claim", "upgrade (never restores)", "no restore"],
)
def test_no_object_store_egress_for_migrations_without_an_s3_restore(
    values: dict[str, Any], is_upgrade: bool
) -> None:
    names = [p["metadata"]["name"] for p in policies(render(values, is_upgrade=is_upgrade))]
    assert "platform-restore" not in names


def test_an_external_database_is_reached_on_its_port_anywhere_by_default() -> None:
    docs = render(EXTERNAL)
    assert "platform-postgres" not in [p["metadata"]["name"] for p in policies(docs)]
    rule = {"ports": [{"port": 6432, "protocol": "TCP"}]}
    for name in ("platform-api", "platform-jobs"):
        assert policy(EXTERNAL, name)["egress"] == [DNS_RULE, rule], name


def test_external_database_peers_narrow_its_destination() -> None:
    peers = [{"ipBlock": {"cidr": "10.0.5.0/24"}}]
    values = merged(EXTERNAL, BACKUP, {"networkPolicy": {"externalDatabasePeers": peers}})
    rule = {"ports": [{"port": 6432, "protocol": "TCP"}], "to": peers}
    for name in ("platform-api", "platform-jobs", "platform-backup"):
        assert policy(values, name)["egress"][1] == rule, name


def test_disabled_renders_no_policy_at_all() -> None:
    values = merged(
        s3("http://versitygw:7070"),
        {"restore": {"from": "latest"}, "networkPolicy": {"enabled": False}},
    )
    assert not policies(render(values))
    assert not policies(render({"networkPolicy": {"enabled": False}}, is_upgrade=True))


def test_the_raw_policies_are_the_charts_defaults_under_the_same_names() -> None:
    # The raw manifests always back up to a claim: the chart's policies with backup on, target pvc.
    with_backup = {"backup": {"enabled": True, "target": "pvc"}}
    chart = {p["metadata"]["name"]: p["spec"] for p in policies(render(with_backup))}
    raw = {p["metadata"]["name"]: p["spec"] for p in policies(kustomize("prod"))}
    assert sorted(raw) == ["platform-api", "platform-backup", "platform-jobs", "postgres"]
    for name in ("platform-api", "platform-backup", "platform-jobs"):
        assert raw[name] == chart[name], name
    assert raw["postgres"] == chart["platform-postgres"]


BAD_VALUES: dict[str, dict[str, Any]] = {
    # An empty `to` would allow port 53 to every destination.
    "no DNS peers": {"networkPolicy": {"dnsPeers": []}},
    "a DNS peer that is not an object": {"networkPolicy": {"dnsPeers": ["kube-dns"]}},
    "typo in networkPolicy": {"networkPolicy": {"dnsPeer": [DNS_PEER]}},
    "extra egress that is not a list": {"api": {"extraEgress": {"ports": [{"port": 1}]}}},
    "external peers that are not a list": {"networkPolicy": {"externalDatabasePeers": {}}},
}


@pytest.mark.parametrize("values", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_the_schema_refuses(values: dict[str, Any]) -> None:
    with pytest.raises(RenderError, match="schema"):
        render(values)
