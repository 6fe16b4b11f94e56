"""Schemathesis against a live `sillok serve`: every operation of `/openapi.json`, fuzzed with
an admin key and with a search-only key of a service account. No 5xx, no response outside its
documented statuses, content types, headers or schema, no undeclared method answered without
`Allow`, no deleted resource still served.

Two request-side checks are left out, because the schema cannot state every rule a route
applies: `positive_data_acceptance` (a schema-valid body such as a user name of control
characters or an expiry in the past is still refused with 400) and `negative_data_rejection`
(lenient parsing, such as a Unix time accepted for a date). The run is bounded: a fixed seed,
few examples per operation and a minute per key.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import SILLOK, sillok_env, sillok_serving

pytestmark = pytest.mark.e2e
ADMIN_TOKEN = "bootstrap-" + "f7" * 16
SCHEMATHESIS = str(Path(SILLOK).with_name("schemathesis"))
CHECKS_LEFT_OUT = "positive_data_acceptance,negative_data_rejection"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    data = tmp_path_factory.mktemp("data")
    env = sillok_env(
        data,
        SILLOK_BOOTSTRAP_ADMIN_TOKEN=ADMIN_TOKEN,
        SILLOK_LIMITS__USER_PER_MINUTE="0",  # the limits are tested elsewhere; here they would
        SILLOK_LIMITS__KEY_PER_MINUTE="0",  # answer most requests with 429 before any logic
        SILLOK_LOG_LEVEL="WARNING",
    )
    log = data / "serve.log"
    with sillok_serving(env, log) as base:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        httpx.post(f"{base}/api/v1/users", json={"username": "finder", "service": True}, headers=admin)
        keys = f"{base}/api/v1/users/finder/api-keys"
        scoped = httpx.post(keys, json={"scopes": ["search"]}, headers=admin)
        httpx.post(
            f"{base}/api/v1/documents",
            headers=admin,
            files={"file": ("leave.txt", b"Employees receive 15 days of annual leave.")},
            data={"acl": '{"public": true}'},
        ).raise_for_status()
        yield {"base": base, "admin": ADMIN_TOKEN, "scoped": scoped.raise_for_status().json()["key"]}
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.parametrize("key", ["admin", "scoped"])
def test_every_operation_holds_to_its_schema(site: dict[str, str], key: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            SCHEMATHESIS,
            "run",
            f"{site['base']}/openapi.json",
            "--header",
            f"Authorization: Bearer {site[key]}",
            "--checks",
            "all",
            "--exclude-checks",
            CHECKS_LEFT_OUT,
            "--max-examples",
            "3",
            "--seed",
            "20261202",
            "--workers",
            "1",
            "--max-time",
            "60",
            "--request-timeout",
            "30",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-8000:]
    assert "API Operations" in output and "Tested:" in output  # it ran the operations
