"""Checks on how runs end (domain/checks.py) put to work: judging a run at its end, the
learned duration bounds, and the watch that announces overruns and missed deadlines."""
