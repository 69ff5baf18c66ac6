"""The `taskgate` command line (Typer + Rich); the application is `taskgate.cli.main:app`."""
