"""The published JSON Schema of a rule, generated from the pydantic model.

`python -m tidewatch.rules.schema` rewrites docs/rule.schema.json; a test fails when the committed
file is out of date, so the published schema and the validation the API applies never diverge.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tidewatch.rules.model import RuleSpec

SCHEMA_ID = "https://tidewatch.dev/schemas/rule.schema.json"
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "docs" / "rule.schema.json"


def rule_json_schema() -> dict[str, Any]:
    schema = RuleSpec.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def render() -> str:
    return json.dumps(rule_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = Path((argv or sys.argv[1:] or [str(SCHEMA_PATH)])[0])
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
