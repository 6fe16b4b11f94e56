from pathlib import Path

import pytest

from core.settings import Settings


def test_secret_files_set_nested_settings_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    (secrets / "..2026_12_02").mkdir(parents=True)  # the layout of a mounted Kubernetes Secret
    (secrets / "..2026_12_02" / "slack__signing_secret").write_text("s3cr3t-from-file\n")
    (secrets / "slack__signing_secret").symlink_to(secrets / "..2026_12_02" / "slack__signing_secret")
    (secrets / "SILLOK_SLACK__BOT_TOKEN").write_text("xoxb-from-file")
    (secrets / "database_url").write_text("postgresql://sillok@db/sillok")
    monkeypatch.setenv("SILLOK_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("SILLOK_DATABASE_URL", "postgresql://sillok@override/sillok")

    settings = Settings(_env_file=None)

    assert settings.slack.bot_token is not None
    assert settings.slack.bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.slack.signing_secret is not None
    assert settings.slack.signing_secret.get_secret_value() == "s3cr3t-from-file"
    assert settings.database_url == "postgresql://sillok@override/sillok"


def test_a_secrets_dir_that_is_not_a_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SILLOK_SECRETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="SILLOK_SECRETS_DIR"):
        Settings(_env_file=None)
