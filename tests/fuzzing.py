"""Schemathesis against a live taskgate: the command the CI test runs (a few examples per
route) and, as `scripts/fuzz`, a longer run by hand before a release.

    scripts/fuzz                          # a throwaway server on SQLite, 1,000 examples a route
    scripts/fuzz --examples 10000         # longer
    scripts/fuzz --database-url postgresql://postgres@127.0.0.1:5432/test_fuzz
    scripts/fuzz --url http://127.0.0.1:8080 --key "$(cat data/admin.key)"   # a running one

It passes when no answer is a 5xx, every answer conforms to /openapi.json, the server logged no
unexpected error, and it still starts a task afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

# What must hold of every answer: no server error, and the status, content type, headers and
# body the description declares. (Not the "negative data is rejected" checks: the API takes
# some inputs the schema cannot describe, such as any text as a task reference.)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
# The event stream never ends on its own; it has its own tests (test_api_events.py).
EXCLUDED_PATHS = ("/api/v1/events",)
ROOT = Path(__file__).resolve().parents[1]
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Links between operations are inferred from the schema only, not from the URLs in answers:
# schemathesis 4.32 stops the whole run with an internal error (urlsplit's "Invalid IPv6 URL")
# when a 2xx answer echoes a stored string such as "http://[" (seen in CI).
SCHEMATHESIS_CONFIG = """\
[phases.stateful.inference]
algorithms = ["dependency-analysis"]
"""


def schemathesis_command(
    url: str, key: str, *, examples: int, max_seconds: float | None, report: Path
) -> list[str]:
    config = report.parent / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        str(SCHEMATHESIS),
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {key}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
    ]
    for path in EXCLUDED_PATHS:
        command += ["--exclude-path", path]
    if max_seconds is not None:
        command += ["--max-time", str(round(max_seconds))]
    return command


FUZZ_TASK = {
    "name": "Fuzz probe",
    "label": "fuzz-probe",
    "action": {"kind": "command", "argv": [sys.executable, "-c", "print('ok')"]},
}


def start_problem(url: str, key: str) -> str:
    """Why the server does not store and run a start of a task made now ("" when it does): the
    fuzzer may have changed or deleted any task, so this one is new."""
    headers = {"Authorization": f"Bearer {key}"}
    label = f"fuzz-after-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        made = http.post("/api/v1/tasks", json={**FUZZ_TASK, "label": label})
        if made.status_code != 201:
            return f"creating a task: {made.status_code} {made.text[:500]}"
        answer = http.post(f"/api/v1/tasks/{label}/start", json={"wait": 30})
        if answer.status_code != 200:
            return f"starting it: {answer.status_code} {answer.text[:500]}"
        execution_id = answer.json()["results"][0]["tasks"][0]["execution_id"]
        done = http.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
        if done.status_code != 200 or done.json()["status"] != "finished_success":
            return f"its run: {done.status_code} {done.text[:500]}"
    return ""


def log_problems(log: str) -> list[str]:
    return [line for line in log.splitlines() if "unexpected error" in line or "Traceback" in line]


def _serve(folder: Path, database_url: str | None, port: int) -> subprocess.Popen[bytes]:
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "data_dir": str(folder / "data"),
        "tasks": [FUZZ_TASK],
    }
    if database_url:
        config["database_url"] = database_url
    (folder / "taskgate.yaml").write_text(yaml.safe_dump(config))
    log = (folder / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "taskgate", "serve", "--config", str(folder / "taskgate.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not get ready within 120 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="examples per route")
    parser.add_argument("--max-seconds", type=float, default=None, help="time budget")
    parser.add_argument("--database-url", default=os.environ.get("TASKGATE_FUZZ_DATABASE_URL"))
    parser.add_argument("--port", type=int, default=18990)
    parser.add_argument("--url", help="fuzz this running server instead of a new one")
    parser.add_argument("--key", help="its admin key (with --url)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="taskgate-fuzz-"))
    process = None
    url, key = args.url, args.key
    if url is None:
        url = f"http://127.0.0.1:{args.port}"
        process = _serve(folder, args.database_url, args.port)
        _wait_ready(url, process)
        key = (folder / "data" / "admin.key").read_text().strip()
    if not key:
        parser.error("--key is required with --url")
    try:
        report = folder / "junit.xml"
        command = schemathesis_command(
            url, key, examples=args.examples, max_seconds=args.max_seconds, report=report
        )
        # Its working folder gets Schemathesis's own files (.schemathesis/).
        fuzzed = subprocess.run(command, cwd=folder, check=False).returncode
        problem = start_problem(url, key)
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    problems = log_problems((folder / "server.log").read_text()) if process is not None else []
    for line in problems:
        print(f"server log: {line}", file=sys.stderr)
    print(f"schemathesis: exit {fuzzed}; a start afterwards: {problem or 'ok'}; files: {folder}")
    return 0 if fuzzed == 0 and not problem and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
