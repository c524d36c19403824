"""Prints each function's unzipped size with its layers beside Lambda's 250 MB limit.

    python scripts/package-sizes.py .aws-sam/build
Exits non-zero when a function with its layers is over the limit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

LIMIT_MB = 250


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1_000_000


def main(build_dir: str) -> int:
    root = Path(build_dir)
    template = yaml.load((root / "template.yaml").read_text(), Loader=_Loader)  # noqa: S506
    resources = template["Resources"]
    over = 0
    print(f"{'function':<20}{'code MB':>9}{'layers MB':>11}{'total MB':>10}{'limit MB':>10}")
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        code = size_mb(root / name)
        layers = 0.0
        for layer in resource["Properties"].get("Layers", []):
            layer_name = layer.get("Ref") if isinstance(layer, dict) else None
            if layer_name and (root / layer_name).exists():
                layers += size_mb(root / layer_name)
        total = code + layers
        over += total > LIMIT_MB
        print(f"{name:<20}{code:9.1f}{layers:11.1f}{total:10.1f}{LIMIT_MB:10d}{'  OVER' if total > LIMIT_MB else ''}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ".aws-sam/build"))
