"""Where artifacts live (S3 or a local folder) and the `model_artifacts` registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from tidewatch.db import Database
from tidewatch.forecast.artifact import Artifact, model_card_markdown, parse_artifact
from tidewatch.forecast.errors import ArtifactInvalid

SHIPPED_DIR = Path(__file__).parent / "artifacts"


class ArtifactStore(Protocol):
    def put(self, key: str, body: bytes, content_type: str) -> str:
        """Store `body` under `key` and return its URI."""
        ...


class LocalArtifactStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, key: str, body: bytes, content_type: str) -> str:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return path.resolve().as_uri()


class S3ArtifactStore:
    def __init__(self, bucket: str, prefix: str = "models/", client: Any | None = None) -> None:
        if client is None:
            import boto3  # lazily: only training and S3-backed serving need it

            client = boto3.client("s3")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def put(self, key: str, body: bytes, content_type: str) -> str:
        full = self.prefix + key
        self.client.put_object(Bucket=self.bucket, Key=full, Body=body, ContentType=content_type)
        return f"s3://{self.bucket}/{full}"


def publish(store: ArtifactStore, artifact: Artifact) -> str:
    """Write the artifact and its model card; return the artifact's URI."""
    base = f"{artifact.kind}/{artifact.card.version}/"
    uri = store.put(base + "model.json", artifact.to_json().encode(), "application/json")
    store.put(base + "card.md", model_card_markdown(artifact.card).encode(), "text/markdown")
    return uri


def read_uri(uri: str, s3_client: Any | None = None) -> bytes:
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        body: bytes = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body
    path = Path(uri[7:] if uri.startswith("file://") else uri)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactInvalid(f"cannot read artifact {uri}: {exc}") from exc


def record(database: Database, artifact: Artifact, uri: str, *, approved: bool) -> None:
    with database.connection() as conn:
        conn.execute(
            """
            INSERT INTO model_artifacts (kind, version, uri, approved, card)
            VALUES (%s, %s, %s, %s, %s::jsonb)
            ON CONFLICT (kind, version) DO UPDATE SET uri = EXCLUDED.uri, approved = EXCLUDED.approved, card = EXCLUDED.card
            """,
            (artifact.kind, artifact.card.version, uri, approved, json.dumps(artifact.card.model_dump(mode="json"))),
        )


def newest_approved_uri(database: Database, kind: str) -> str | None:
    with database.connection() as conn:
        row = conn.execute(
            "SELECT uri FROM model_artifacts WHERE kind = %s AND approved ORDER BY created_at DESC, id DESC LIMIT 1",
            (kind,),
        ).fetchone()
    return None if row is None else str(row["uri"])


def shipped(kind: str) -> Artifact:
    return parse_artifact((SHIPPED_DIR / f"{kind}.json").read_bytes())
