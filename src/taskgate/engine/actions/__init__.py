"""Action kinds, one module each. Importing this package registers the built-in kinds; a new
kind is one module that calls `registry.register` and one line here."""

from taskgate.engine.actions import command, http, qlik, sequence, workflow
from taskgate.engine.actions.registry import ActionCatalog

__all__ = ["ActionCatalog", "command", "http", "qlik", "sequence", "workflow"]
