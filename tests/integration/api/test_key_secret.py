"""JWT keys from Secrets Manager (moto), re-read after the Powertools cache so rotation needs no redeploy."""

import json
from collections.abc import Callable, Iterator

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from api.deps import ApiDeps, build_services

from .conftest import auth_settings

pytestmark = pytest.mark.integration

A, B = "a" * 32, "b" * 32


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        parameters.clear_caches()
        yield boto3.client("secretsmanager", region_name="us-east-1")
        parameters.clear_caches()


def test_key_ring_comes_from_the_secret_and_follows_rotation(
    secrets_manager: object, make_deps: Callable[..., ApiDeps]
) -> None:
    client = secrets_manager
    arn = client.create_secret(  # type: ignore[attr-defined]
        Name="tidewatch/jwt", SecretString=json.dumps({"active": "a", "keys": {"a": A}})
    )["ARN"]
    services = build_services(make_deps(auth=auth_settings(jwt_keys={}, jwt_active_kid=None, jwt_keys_secret_arn=arn)))
    tokens = services.require_tokens()
    old = tokens.issue(user_id=1, address="0x0", plan="free")
    assert jwt.get_unverified_header(old)["kid"] == "a"
    # When the secret gains key b and makes it active (and the cache period has passed)
    client.put_secret_value(SecretId=arn, SecretString=json.dumps({"active": "b", "keys": {"a": A, "b": B}}))  # type: ignore[attr-defined]
    parameters.clear_caches()
    # Then new tokens are signed with b and the old one still verifies
    assert jwt.get_unverified_header(tokens.issue(user_id=1, address="0x0", plan="free"))["kid"] == "b"
    assert tokens.verify(old).user_id == 1
