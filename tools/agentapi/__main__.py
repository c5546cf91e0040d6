"""`python -m tools.agentapi [--check]`: write the agent's OpenAPI document, or check it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.agentapi import document

OUT = Path("gateway/agent/openapi.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = json.dumps(document(), indent=1, ensure_ascii=False) + "\n"
    if args.check:
        if OUT.read_text() != text:
            print(f"{OUT} is stale: run python -m tools.agentapi", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
