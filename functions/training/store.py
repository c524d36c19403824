"""Where training publishes artifacts: S3 or a local folder, one model document and its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from tidewatch.forecast.artifact import Artifact, model_card_markdown


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
            import boto3  # lazily: the CLI's local-folder path needs no AWS SDK

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
