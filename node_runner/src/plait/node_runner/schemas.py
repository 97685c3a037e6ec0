"""Write the published JSON Schemas: ``python -m plait.node_runner.schemas DIR``."""

from __future__ import annotations

import sys
from pathlib import Path

from .flow import canonical_json, flow_json_schema

FLOW_SCHEMA_FILE = "flow-v1.schema.json"


def render() -> dict[str, str]:
    """File name -> canonical text of every published schema."""
    return {FLOW_SCHEMA_FILE: canonical_json(flow_json_schema())}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m plait.node_runner.schemas OUTPUT_DIR", file=sys.stderr)
        return 2
    out = Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
