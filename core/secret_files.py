"""Settings read from a directory of secret files (`SILLOK_SECRETS_DIR`), one value per file.

A Kubernetes Secret or a Docker secret mounted as a directory gives one file per key. A file
is named like the environment variable, with or without the `SILLOK_` prefix and in any case:
`slack__bot_token` or `SILLOK_SLACK__BOT_TOKEN` sets `slack.bot_token`. Environment variables
win over files, so a value can still be overridden for one run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

PREFIX = "sillok_"
DIR_VARIABLE = "SILLOK_SECRETS_DIR"


class SecretFilesSource(PydanticBaseSettingsSource):
    """Nested settings from the files of the directory named by `SILLOK_SECRETS_DIR`."""

    def __init__(self, settings_cls: type[BaseSettings], directory: Path | None = None) -> None:
        super().__init__(settings_cls)
        configured = os.environ.get(DIR_VARIABLE)
        self._directory = directory or (Path(configured) if configured else None)

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` reads the whole directory at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        """Every secret file as a nested dict of values (surrounding whitespace stripped)."""
        if self._directory is None:
            return {}
        if not self._directory.is_dir():
            raise ValueError(f"{DIR_VARIABLE} is not a directory: {self._directory}")
        values: dict[str, Any] = {}
        for path in sorted(self._directory.iterdir()):
            name = path.name.lower()
            if name.startswith(".") or not path.is_file():  # Kubernetes' ..data links and dot files
                continue
            name = name.removeprefix(PREFIX)
            *parents, leaf = name.split("__")
            target = values
            for part in parents:
                target = target.setdefault(part, {})
            target[leaf] = path.read_text(encoding="utf-8").strip()
        return values
