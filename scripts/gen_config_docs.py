#!/usr/bin/env python3
"""Write the settings reference into docs/configuration.md (between its markers), from the
settings models in src/taskgate/config/. The text around the markers is written by hand.

    .venv/bin/python scripts/gen_config_docs.py           # rewrite the file
    .venv/bin/python scripts/gen_config_docs.py --check   # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from taskgate.config.reference import replace_generated, undocumented

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def main(argv: list[str]) -> int:
    current = DOC.read_text()
    wanted = replace_generated(current)
    for name in undocumented():
        print(f"gen_config_docs: no description: {name}", file=sys.stderr)
    if "--check" in argv:
        if wanted != current:
            print(f"{DOC} is out of date: run scripts/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        DOC.write_text(wanted)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
