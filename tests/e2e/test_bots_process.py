"""Where the bots run: `sillok serve` answers them on one machine, `sillok bots` on its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import SILLOK, sillok_env, sillok_serving
from tests.servers.slack_api import Workspace, slack_api

pytestmark = pytest.mark.e2e
SECRET = "process-test-signing-secret-0123"


def signed(body: str, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()))
    mac = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={mac}",
        "Content-Type": "application/json",
    }


def test_sillok_serve_hosts_the_slack_bot_when_it_is_configured(tmp_path: Path) -> None:
    with slack_api(Workspace()) as base:
        env = sillok_env(
            tmp_path / "data",
            SILLOK_SLACK__BOT_TOKEN="xoxb-test-token",
            SILLOK_SLACK__SIGNING_SECRET=SECRET,
            SILLOK_SLACK__API_BASE_URL=base,
            SILLOK_EMBEDDING__BACKEND="sentence-transformers",
        )
        with sillok_serving(env, tmp_path / "serve.log") as url:
            body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"})
            reply = httpx.post(f"{url}/slack/events", content=body, headers=signed(body))
            assert reply.status_code == 200 and "c-123" in reply.text
            forged = httpx.post(f"{url}/slack/events", content=body, headers=signed(body, "wrong"))
            assert forged.status_code == 401
            assert httpx.post(f"{url}/api/messages", json={}).status_code == 404  # Teams is not configured


def test_sillok_bots_refuses_to_start_without_a_bot_or_a_qdrant_server(tmp_path: Path) -> None:
    env = sillok_env(tmp_path / "data")
    done = subprocess.run([SILLOK, "bots"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no bot is configured" in done.stderr
    env |= {"SILLOK_TEAMS__ANONYMOUS": "true"}
    done = subprocess.run([SILLOK, "bots"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "needs a Qdrant server" in done.stderr
    assert "Traceback" not in done.stderr
