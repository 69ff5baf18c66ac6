"""taskgate: start, schedule, chain and watch tasks from other systems."""

__version__ = "0.1.0"
