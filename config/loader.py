"""Load `platform.yaml` and turn every problem into one readable error naming the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from config.schema import PlatformConfig

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent / "platform.yaml"


class ConfigError(ValueError):
    """The configuration file cannot be used; the message says where and why."""


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys, which plain YAML silently lets the last one win. libyaml's
    parser where PyYAML has it (its wheels do): 2 ms a load instead of 16, and the suite loads hundreds."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if key in mapping:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_unique_mapping)


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> PlatformConfig:
    """Read and validate a platform configuration file.

    Raises ConfigError whose message lists every invalid field as `file: field: reason`.
    """
    config_path = Path(path)
    try:
        raw = yaml.load(config_path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except OSError as error:
        raise ConfigError(f"{config_path}: cannot read the configuration: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{config_path}: not valid YAML: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path}: the configuration must be a YAML mapping")
    try:
        return PlatformConfig.model_validate(raw)
    except ValidationError as error:
        problems = [
            f"{config_path}: {_field_path(detail['loc'])}: {detail['msg']}"
            + (f" (got {detail['input']!r})" if not isinstance(detail["input"], dict | list) else "")
            for detail in error.errors()
        ]
        raise ConfigError("invalid platform configuration:\n  " + "\n  ".join(problems)) from error
