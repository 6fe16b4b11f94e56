"""The README's two commands exist and are what CI runs; documented names match the code."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_names_the_two_commands() -> None:
    assert "./scripts/run-demo" in README
    assert "./scripts/test" in README


@pytest.mark.parametrize("script", ["scripts/run-demo", "scripts/test", "scripts/install", ".ci/run"])
def test_scripts_exist_and_are_executable(script: str) -> None:
    path = REPO / script
    assert path.is_file() and path.stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command() -> None:
    assert re.search(r"^\./scripts/test\b", (REPO / ".ci/run").read_text(), re.M)


def test_every_cli_command_in_the_readme_exists() -> None:
    from typer.main import get_command

    from serving.cli.main import app

    root = get_command(app)
    for line in re.findall(r"^\s*sillok ([a-z][a-z ]+?)(?: [\"A-Z.\-]|$)", README, re.M):
        words = line.split()
        command = root
        for word in words:
            sub = getattr(command, "commands", {}).get(word)
            if sub is None:
                break
            command = sub
        assert command is not root, f"README mentions unknown command: sillok {line}"


def test_every_environment_variable_in_the_readme_is_a_setting() -> None:
    from core.secret_files import DIR_VARIABLE
    from core.settings import Settings

    for var in set(re.findall(r"SILLOK_([A-Z_]+)", README)) - {DIR_VARIABLE.removeprefix("SILLOK_")}:
        model: Any = Settings
        for part in var.lower().split("__"):
            assert part in model.model_fields, f"README documents SILLOK_{var}, which is not a setting"
            model = model.model_fields[part].annotation


def test_sample_documents_are_present() -> None:
    assert sorted(p.suffix for p in Path(REPO / "samples").iterdir()) == [".md", ".md"]
