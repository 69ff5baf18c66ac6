"""FastAPI runs in the server without importing pydantic.v1 (idle memory).

FastAPI refuses pydantic.v1 models, and to tell one it imports all of pydantic.v1 the first
time it builds a route's fields (at the route's first request, since FastAPI 0.16x): ~1.5 MiB
of idle memory for a check that cannot succeed, as no model of taskgate (and no plug-in: the
action kinds are ours) is a pydantic.v1 one, and no other library the server loads uses it.
"""

from __future__ import annotations

import sys

V1 = "pydantic.v1"


def keep_out_pydantic_v1() -> None:
    """From now on `from pydantic import v1` raises ImportError in this process, which FastAPI
    reads as "pydantic.v1 is not installed" (its own fallback: no model is one); unless it was
    imported already, which this leaves alone."""
    # None in sys.modules is the import system's documented "cannot be imported" mark; typeshed
    # types its values as modules only.
    sys.modules.setdefault(V1, None)  # type: ignore[arg-type]
