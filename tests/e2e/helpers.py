"""Run the installed `sillok` command as a user would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

SILLOK = str(Path(sys.executable).parent / "sillok")


def sillok_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILLOK_")}
    env.update({"SILLOK_DATA_DIR": str(data_dir), "SILLOK_LOG_LEVEL": "WARNING", **extra})
    return env


def run(args: list[str], env: dict[str, str], prefix: list[str] | None = None, timeout: int = 600) -> str:
    result = subprocess.run(
        [*(prefix or []), SILLOK, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"sillok {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def run_json(args: list[str], env: dict[str, str], prefix: list[str] | None = None) -> dict[str, Any]:
    out = run(args, env, prefix)
    return dict(json.loads(out.strip().splitlines()[-1]))


def wait_serving(base: str, proc: subprocess.Popen[Any], why: Callable[[], str], timeout_s: float) -> None:
    """Poll `base`/healthz until the server answers; fail with `why()` (its output) if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("sillok serve did not start: " + why())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ci_requires(reason: str) -> NoReturn:
    """Skip the test for `reason`, or fail it in CI (`CI` set), where everything it needs is installed."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextmanager
def sillok_serving(env: dict[str, str], log: Path, timeout_s: float = 120) -> Iterator[str]:
    """`sillok serve` on a free port with `env`, its stderr in `log`; yields its base URL and
    stops it afterwards."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as sink:
        server = subprocess.Popen([SILLOK, "serve", "--port", str(port)], env=env, stderr=sink)
    try:
        wait_serving(base, server, log.read_text, timeout_s)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def api_in_process(data_dir: Path, database_url: str, admin_token: str) -> Iterator[tuple[Any, Any]]:
    """The API app in this process (a `TestClient` and its `ApiServices`) with the bootstrap
    admin `admin_token` and no per-user rate limit."""
    from fastapi.testclient import TestClient

    from core.settings import LimitSettings, Settings
    from serving.api.app import create_app
    from serving.api.bootstrap import ApiServices

    settings = Settings(
        data_dir=data_dir,
        database_url=database_url,
        bootstrap_admin_token=admin_token,
        limits=LimitSettings(user_per_minute=0, key_per_minute=0),
        log_level="WARNING",
    )
    container = ApiServices(settings)
    try:
        with TestClient(create_app(container)) as client:
            yield client, container
    finally:
        container.close()
