"""Settings: the YAML config file, under environment overrides. Nothing here imports the core;
each section is a module of its own, and `load_settings` is the one way in."""

from taskgate.config.loader import load_settings
from taskgate.config.settings import Settings

__all__ = ["Settings", "load_settings"]
