"""`python -m taskgate` runs the command line."""

from taskgate.cli.main import app

if __name__ == "__main__":
    app(prog_name="taskgate")
