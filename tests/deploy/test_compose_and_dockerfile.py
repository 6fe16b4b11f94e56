"""The Compose file against the Compose specification's schema, and the Dockerfile linted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
BIN = Path(sys.executable).parent


def test_the_compose_file_follows_the_compose_specification() -> None:
    done = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", DEPLOY / "compose.yaml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_compose_file_runs_every_tier_non_root_with_secrets_in_files() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "api",
        "worker-ingest",
        "worker-light",
        "beat",
        "bots",
        "qdrant",
        "redis",
        "postgres",
        "vllm",
    } <= set(services)
    assert "--appendonly" in services["redis"]["command"]
    assert services["qdrant"]["environment"]["QDRANT__TELEMETRY_DISABLED"] == "true"
    for name in ("api", "worker-ingest", "worker-light", "beat", "bots"):
        service = services[name]
        assert service["user"] == "10001:10001" and service["read_only"] is True
        assert service["environment"]["SILLOK_SECRETS_DIR"] == "/run/secrets"
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]  # only POSTGRES_PASSWORD_FILE
    assert all("file" in secret for secret in compose["secrets"].values())


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [BIN / "hadolint", DEPLOY / "Dockerfile"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and dockerfile.count("FROM ") >= 2
