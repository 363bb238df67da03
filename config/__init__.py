"""Platform configuration: `platform.yaml`, its schema and its loader."""

from config.loader import DEFAULT_CONFIG_PATH, ConfigError, load_config
from config.schema import PlatformConfig

__all__ = ["DEFAULT_CONFIG_PATH", "ConfigError", "PlatformConfig", "load_config"]
