"""Compiled devnet contracts (devnet/artifacts/*.json, rebuilt by devnet/build.sh)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
ARTIFACTS_DIR = REPO_ROOT / "devnet" / "artifacts"


@lru_cache(maxsize=32)
def artifact(name: str) -> dict[str, Any]:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"devnet artifact {path} is missing: run devnet/build.sh")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def names() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))
