"""CloudFormation custom-resource protocol: the request event and the response PUT to its presigned URL.

CloudFormation waits (up to an hour) for a PUT to `ResponseURL`; a handler that dies without
answering stalls the deploy, so `send_response` never raises and the handler always answers.
Standard library only (urllib): the function needs no extra dependency for this.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# CloudFormation rejects a response body over 4 KB; the reason is the part that can grow.
MAX_REASON_CHARS = 1000

ResponseSender = Callable[[str, bytes], None]


class CustomResourceEvent(BaseModel):
    """The request CloudFormation sends for a `Custom::` / `AWS::CloudFormation::CustomResource`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    request_type: Literal["Create", "Update", "Delete"] = Field(alias="RequestType")
    response_url: str = Field(alias="ResponseURL")
    stack_id: str = Field(alias="StackId")
    request_id: str = Field(alias="RequestId")
    logical_resource_id: str = Field(alias="LogicalResourceId")
    physical_resource_id: str | None = Field(default=None, alias="PhysicalResourceId")
    resource_properties: dict[str, Any] = Field(default_factory=dict, alias="ResourceProperties")


def response_body(
    event: CustomResourceEvent,
    *,
    status: Literal["SUCCESS", "FAILED"],
    physical_resource_id: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> bytes:
    body = {
        "Status": status,
        "Reason": reason[:MAX_REASON_CHARS] or status,
        "PhysicalResourceId": physical_resource_id,
        "StackId": event.stack_id,
        "RequestId": event.request_id,
        "LogicalResourceId": event.logical_resource_id,
        "NoEcho": False,
        "Data": data or {},
    }
    return json.dumps(body).encode()


def put_response(url: str, body: bytes, timeout_seconds: float = 10.0) -> None:
    """PUT the body to the presigned S3 URL (an empty Content-Type, as the presigned URL expects)."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("ResponseURL must be an http(s) URL")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=timeout_seconds) as response:  # noqa: S310
        response.read()
