"""The chart rendered by Helm itself (helm-python-sdk: Helm's Go SDK as a native library)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "sillok"
PRODUCTION = CHART / "values-production.yaml"
MINIMAL = {"secrets": {"existingSecret": "sillok-secrets"}}  # the least a install must say


def production_values() -> dict[str, Any]:
    return yaml.safe_load(PRODUCTION.read_text())


@cache
def chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Every manifest the chart renders with `values`, as parsed documents."""
    rendered = chart().render(values, name="sillok", namespace="sillok")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The pod spec of every workload (Deployments and the test Pod), by name."""
    specs = {}
    for doc in docs:
        if doc["kind"] == "Deployment":
            specs[doc["metadata"]["name"]] = doc["spec"]["template"]["spec"]
        elif doc["kind"] == "Pod":
            specs[doc["metadata"]["name"]] = doc["spec"]
    return specs
