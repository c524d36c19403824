"""Where the serving models come from: an artifact URI (S3 or file) or the shipped defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tidewatch.forecast.artifact import Artifact, parse_artifact
from tidewatch.forecast.errors import ArtifactInvalid

SHIPPED_DIR = Path(__file__).parent / "artifacts"


def read_uri(uri: str, s3_client: Any | None = None) -> bytes:
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if s3_client is None:
            import boto3  # lazily: only S3-backed serving needs it

            s3_client = boto3.client("s3")
        body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    path = Path(uri[7:] if uri.startswith("file://") else uri)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactInvalid(f"cannot read artifact {uri}: {exc}") from exc


def shipped(kind: str) -> Artifact:
    return parse_artifact((SHIPPED_DIR / f"{kind}.json").read_bytes())
