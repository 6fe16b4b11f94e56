"""The Helm chart, rendered, linted and schema-checked by real Helm, validated against the
Kubernetes schemas, and held to its security properties."""

from __future__ import annotations

import json
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from tests.deploy.chart import CHART, MINIMAL, pod_specs, production_values, render

KUBERNETES = "1.33.0"
CUSTOM_RESOURCES = {"ScaledObject", "ExternalSecret"}  # KEDA's and External Secrets' CRDs
VALUES = {"default": MINIMAL, "production": production_values()}


@pytest.mark.parametrize("which", sorted(VALUES))
def test_the_chart_renders_lints_and_validates(which: str) -> None:
    values = VALUES[which]
    report = helm.lint(CHART, values, strict=True)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == [], report
    docs = render(values)
    checked = 0
    for doc in docs:
        if doc["kind"] in CUSTOM_RESOURCES:
            continue
        kubernetes_validate.validate(doc, KUBERNETES, strict=True)
        checked += 1
    assert checked >= 15


def test_the_values_schema_refuses_unknown_keys_and_bad_values() -> None:
    from tests.deploy.chart import chart

    chart().validate_schema(production_values())
    for bad in (
        {"api": {"replcas": 3}},
        {"workers": {"gpu": {"replicas": 1}}},
        {"vllm": {"gpuMemoryUtilization": 1.5}},
        {"config": {"PASSWORD": "x"}},
        {"postgresql": {"auth": {"password": "changeme"}}},
    ):
        with pytest.raises(helm.HelmValuesError):
            chart().validate_schema(bad)


def test_there_are_no_default_secrets() -> None:
    with pytest.raises(helm.HelmError, match="no default passwords"):
        render({})
    for values in VALUES.values():
        docs = render(values)
        assert not [d for d in docs if d["kind"] == "Secret"]
        text = json.dumps(docs).lower()
        for word in ("password:", "changeme", "xoxb-", 'bootstrap_admin_token":'):
            assert word not in text


@pytest.mark.parametrize("which", sorted(VALUES))
def test_every_workload_is_non_root_and_read_only(which: str) -> None:
    specs = pod_specs(render(VALUES[which]))
    assert {"sillok-api", "sillok-worker-ingest", "sillok-worker-light", "sillok-beat", "sillok-vllm"} <= set(
        specs
    )
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        assert spec["automountServiceAccountToken"] is False, name
        for container in spec["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            assert "resources" in container, name


@pytest.mark.parametrize("which", sorted(VALUES))
def test_network_policies_deny_by_default_in_both_directions(which: str) -> None:
    docs = render(VALUES[which])
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    deny = policies["sillok-default-deny"]
    assert deny["podSelector"] == {"matchLabels": {"app.kubernetes.io/instance": "sillok"}}
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    for name, spec in policies.items():
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}, name
        for rule in spec.get("egress") or []:
            assert rule.get("to"), f"{name}: an egress rule without peers allows anywhere"
        for rule in spec.get("ingress") or []:
            assert rule.get("from"), f"{name}: an ingress rule without peers allows anyone"
    assert policies["sillok-vllm"]["egress"] == []
    chat = json.dumps(production_values()["networkPolicy"]["chatPlatforms"]["to"])
    reaching_chat = {n for n, s in policies.items() if chat.strip("[]") in json.dumps(s.get("egress") or [])}
    assert reaching_chat == ({"sillok-bots"} if which == "production" else set())


@pytest.mark.parametrize("which", sorted(VALUES))
def test_every_replicated_tier_has_a_disruption_budget_and_separate_probes(which: str) -> None:
    docs = render(VALUES[which])
    budgets = {d["metadata"]["name"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    scaled = {
        d["spec"]["scaleTargetRef"]["name"]
        for d in docs
        if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
    }
    for doc in docs:
        if doc["kind"] != "Deployment":
            continue
        name = doc["metadata"]["name"]
        if doc["spec"].get("replicas", 2) > 1 or name in scaled:
            assert name in budgets, f"{name} is replicated without a PodDisruptionBudget"
        for container in doc["spec"]["template"]["spec"]["containers"]:
            live, ready = container.get("livenessProbe"), container.get("readinessProbe")
            if ready is not None:
                assert live is not None and live != ready, f"{name}: liveness must differ from readiness"
    assert "sillok-beat" not in budgets  # one replica by design


def test_images_take_the_mirror_prefix_and_vllm_gets_gpus() -> None:
    values = production_values()
    docs = render(values)
    prefix = values["global"]["imageRegistry"] + "/"
    images = [c["image"] for spec in pod_specs(docs).values() for c in spec["containers"]]
    assert images and all(image.startswith(prefix) for image in images)
    vllm = pod_specs(docs)["sillok-vllm"]
    assert vllm["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert vllm["tolerations"] and vllm["nodeSelector"]
    args: Any = vllm["containers"][0]["args"][0]
    assert "--tensor-parallel-size 2" in args and "--enable-prefix-caching" in args
    assert "--served-model-name qwen2.5-32b-instruct" in args
