"""Every `SILLOK_*` variable the settings read, with its default: for the env example and its test."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from pydantic import BaseModel, SecretStr


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, its section, its default as text, and whether it is
    a secret (to be kept in a file under `SILLOK_SECRETS_DIR`)."""

    name: str
    section: str
    default: str | None
    secret: bool


def _default_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def variables(
    model: type[BaseModel], prefix: str = "SILLOK_", section: str = "general"
) -> Iterator[Variable]:
    """The variables of `model`, nested models flattened with `__`, in declaration order."""
    for name, field in model.model_fields.items():
        kinds = [field.annotation]
        if typing.get_origin(field.annotation) in (typing.Union, types.UnionType):  # X | None
            kinds = [k for k in typing.get_args(field.annotation) if k is not type(None)]
        nested = kinds[0]
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            yield from variables(nested, f"{prefix}{name.upper()}__", name)
            continue
        yield Variable(f"{prefix}{name.upper()}", section, _default_text(field.default), SecretStr in kinds)


def env_example(model: type[BaseModel]) -> str:
    """The text of `deploy/sillok.env.example`: every variable, secrets and unset ones commented."""
    lines = [
        "# Every Sillok setting, with its default. Copy to sillok.env and change what you need.",
        "# Secrets belong in files under SILLOK_SECRETS_DIR (one file per setting, named like the",
        "# variable without SILLOK_, e.g. slack__bot_token), never in this file.",
        "# Written by scripts/env-example; tests/deploy/test_env_example.py keeps it in step.",
        "SILLOK_SECRETS_DIR=/run/secrets",
    ]
    section = None
    for variable in variables(model):
        if variable.section != section:
            section = variable.section
            lines += ["", f"# --- {section}"]
        if variable.secret:
            lines.append(f"# {variable.name}=  (secret: a file under SILLOK_SECRETS_DIR)")
        elif variable.default is None:
            lines.append(f"# {variable.name}=  (unset by default)")
        else:
            lines.append(f"{variable.name}={variable.default}")
    return "\n".join(lines) + "\n"
