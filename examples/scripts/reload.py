#!/usr/bin/env python3
"""A stand-in for a reload job: works for a moment, reports progress, writes a result.

taskgate passes parameters as `TASKGATE_PARAM_<NAME>` environment variables and as a JSON
file named by `TASKGATE_PARAMS_FILE`; a JSON document written to `TASKGATE_RESULT_FILE`
becomes the execution's result.

Parameters: `seconds` (float, default 1), `region` (string; when not given, the value the
key-value store holds under `params` / `region`, as Butler's start with a `keyvaluestore`
item leaves it; else "EU"), `fail` (bool, default false: exit 1 when true).

The key-value store is read with the run's own credential, `TASKGATE_TOKEN`, at
`TASKGATE_URL` (standard library only: the job needs nothing installed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PREFIX = "TASKGATE_PARAM_"


def read_params() -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in os.environ.items():
        if name.startswith(PREFIX):
            params[name[len(PREFIX) :].lower()] = value
    path = os.environ.get("TASKGATE_PARAMS_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                from_file = json.load(fh)
        except (OSError, ValueError) as exc:
            print(f"cannot read params file {path}: {exc}", file=sys.stderr)
        else:
            if isinstance(from_file, dict):
                params.update(from_file)
    return params


def kv_value(namespace: str, key: str) -> str | None:
    """The value the key-value store holds, or None (no such item, no server, no token)."""
    url, token = os.environ.get("TASKGATE_URL"), os.environ.get("TASKGATE_TOKEN")
    if not url or not token:
        return None
    path = f"/api/v1/kv/{urllib.parse.quote(namespace)}/{urllib.parse.quote(key)}"
    request = urllib.request.Request(url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            value = json.load(answer).get("value")
    except (OSError, ValueError, urllib.error.URLError) as exc:
        print(f"key-value store: no {namespace}/{key} ({exc})", flush=True)
        return None
    return value if isinstance(value, str) else None


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app", default="App", help="name of the app being reloaded")
    args = parser.parse_args()

    params = read_params()
    print(f"reload of {args.app} starting", flush=True)
    print(f"execution: {os.environ.get('TASKGATE_EXECUTION_ID', '-')}", flush=True)
    for name in sorted(params):
        print(f"param {name} = {params[name]!r}", flush=True)

    try:
        seconds = float(params.get("seconds", 1.0))
    except (TypeError, ValueError):
        print(f"bad value for seconds: {params.get('seconds')!r}", file=sys.stderr)
        return 2
    seconds = max(0.0, min(seconds, 3600.0))
    region = params.get("region")
    if region in (None, "", "null"):
        region = kv_value("params", "region")
        if region is not None:
            print(f"region {region!r} from the key-value store (params/region)", flush=True)
    region = str(region or "EU")
    fail = as_bool(params.get("fail", False))

    steps = 4
    started = time.monotonic()
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        print(f"progress {step * 100 // steps}% ({region})", flush=True)

    rows = 1000 * len(region) + int(seconds * 10)
    result = {
        "app": args.app,
        "region": region,
        "rows": rows,
        "seconds": round(time.monotonic() - started, 3),
        "ok": not fail,
    }
    result_file = os.environ.get("TASKGATE_RESULT_FILE")
    if result_file:
        with open(result_file, "w", encoding="utf-8") as fh:
            json.dump(result, fh)

    if fail:
        print(f"reload of {args.app} failed (asked to by the fail parameter)", file=sys.stderr)
        return 1
    print(f"reload of {args.app} done: {rows} rows", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
