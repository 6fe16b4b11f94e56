import re
from pathlib import Path

from core.settings import Settings
from core.settings_catalog import env_example, variables

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "sillok.env.example"


def test_the_env_example_lists_exactly_the_settings() -> None:
    listed = set(re.findall(r"^#? ?(SILLOK_[A-Z0-9_]+)=", EXAMPLE.read_text(), re.MULTILINE))
    expected = {v.name for v in variables(Settings)} | {"SILLOK_SECRETS_DIR"}
    assert listed == expected, "run scripts/env-example"
    assert EXAMPLE.read_text() == env_example(Settings), "run scripts/env-example"


def test_every_secret_is_commented_out_and_every_example_value_is_accepted(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    secrets = {v.name for v in variables(Settings) if v.secret}
    assert {"SILLOK_SLACK__BOT_TOKEN", "SILLOK_TEAMS__APP_PASSWORD", "SILLOK_LLM__API_KEY"} <= secrets
    for line in EXAMPLE.read_text().splitlines():
        name, _, value = line.partition("=")
        if line.startswith("SILLOK_") and name != "SILLOK_SECRETS_DIR":
            assert name not in secrets
            monkeypatch.setenv(name, value)
    Settings(_env_file=None)  # the defaults, as written, are valid settings
