"""The dashboard and alert rules in deploy/observability/ name only series Sillok exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
OBSERVABILITY = REPO / "deploy" / "observability"
SUFFIXES = ("_bucket", "_count", "_sum")


def exported() -> set[str]:
    """Every `sillok_*` series name declared in the product's code."""
    names = set()
    for path in [
        *REPO.glob("core/**/*.py"),
        *REPO.glob("ingest/**/*.py"),
        *REPO.glob("retrieval/**/*.py"),
        *REPO.glob("serving/**/*.py"),
    ]:
        names |= set(re.findall(r'"(sillok_[a-z_]+)"', path.read_text()))
    return names


def used(expression: str) -> set[str]:
    found = set()
    for name in re.findall(r"\b(sillok_[a-z_]+)", expression):
        for suffix in SUFFIXES:
            name = name.removesuffix(suffix)
        found.add(name)
    return found


def test_alert_rules_use_exported_series_and_say_what_to_do() -> None:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())["groups"][0]["rules"]
    assert len(rules) >= 8
    known = exported()
    for rule in rules:
        assert used(rule["expr"]) <= known, rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_dashboard_uses_exported_series() -> None:
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text())
    known = exported()
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(expressions) >= 12
    for expression in expressions:
        assert used(expression) <= known, expression
    assert {
        "sillok_http_request_seconds",
        "sillok_bot_events_total",
        "sillok_document_versions",
    } <= set().union(*(used(e) for e in expressions))
