"""Event shapes of the alerts function: SQS batches of delivery ids and SNS-wrapped SES notifications."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SqsRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    message_id: str = Field(alias="messageId")
    body: str
    event_source: Literal["aws:sqs"] = Field(alias="eventSource")


class SqsEvent(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    records: list[SqsRecord] = Field(alias="Records", min_length=1)


class SnsMessage(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    message: str = Field(alias="Message")
    topic_arn: str = Field(alias="TopicArn")


class SnsRecord(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    event_source: Literal["aws:sns"] = Field(alias="EventSource")
    sns: SnsMessage = Field(alias="Sns")


class SnsEvent(BaseModel):
    """SES bounce/complaint notifications published to SNS, delivered to this function."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    records: list[SnsRecord] = Field(alias="Records", min_length=1)

    def notifications(self) -> list[dict[str, Any]]:
        import json

        found = []
        for record in self.records:
            try:
                value = json.loads(record.sns.message)
            except ValueError:
                continue
            if isinstance(value, dict):
                found.append(value)
        return found
