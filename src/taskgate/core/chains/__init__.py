"""Chain rules: when tasks end, start others (see domain/chains.py for the rules' shape)."""

from taskgate.core.chains.service import ChainService

__all__ = ["ChainService"]
