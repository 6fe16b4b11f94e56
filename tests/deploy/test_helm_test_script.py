"""The chart's `helm test` script, run as the test pod would, against a live `sillok serve`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import sillok_env, sillok_serving

SCRIPT = Path(__file__).resolve().parents[2] / "helm" / "sillok" / "files" / "acl-check.py"
TOKEN = "helm-test-admin-token-0123456789abcdef"


@pytest.mark.e2e
def test_the_helm_test_finds_a_document_for_its_owner_only(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "bootstrap_admin_token").write_text(TOKEN + "\n")
    env = sillok_env(
        tmp_path / "data",
        SILLOK_SECRETS_DIR=str(secrets),
        SILLOK_EMBEDDING__BACKEND="sentence-transformers",
        SILLOK_LIMITS__USER_PER_MINUTE="0",
    )
    with sillok_serving(env, tmp_path / "serve.log") as url:
        done = subprocess.run(
            [sys.executable, SCRIPT],
            env={**env, "SILLOK_API": url},
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    checks = json.loads(done.stdout.strip().splitlines()[-1])
    assert checks == {
        "indexed": True,
        "owner finds it": True,
        "outsider does not": True,
        "outsider gets 404": True,
    }
