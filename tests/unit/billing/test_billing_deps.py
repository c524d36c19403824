"""Billing secrets come from Secrets Manager / SSM when a reference is configured, else from env."""

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from api.deps.billing import billing_deps_from
from tidewatch.billing.settings import BillingSettings
from tidewatch.billing.stripe_gateway import StripeGateway, StripeUnavailable


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield


def test_secrets_are_read_from_secrets_manager_and_ssm(aws: None) -> None:
    # Given the API key in Secrets Manager and the webhook secret in SSM
    arn = boto3.client("secretsmanager").create_secret(Name="tw/stripe-key", SecretString="sk_test_from_sm")["ARN"]
    boto3.client("ssm").put_parameter(Name="/tw/stripe-whsec", Value="whsec_from_ssm", Type="SecureString")
    settings = BillingSettings(stripe_api_key_secret_arn=arn, stripe_webhook_secret_arn="ssm:/tw/stripe-whsec")
    # When billing is wired
    deps = billing_deps_from(settings)
    # Then both secrets were resolved
    assert isinstance(deps.gateway, StripeGateway)
    assert deps.gateway._api_key == "sk_test_from_sm"
    assert deps.webhook_secret == "whsec_from_ssm"


def test_env_secrets_are_used_when_no_reference_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEWATCH_STRIPE_API_KEY", "sk_test_env")
    monkeypatch.setenv("TIDEWATCH_STRIPE_WEBHOOK_SECRET", "whsec_env")
    monkeypatch.setenv("TIDEWATCH_STRIPE_API_BASE", "http://127.0.0.1:12111/")
    deps = billing_deps_from(BillingSettings())
    assert isinstance(deps.gateway, StripeGateway)
    assert (deps.gateway._api_key, deps.gateway._api_base) == ("sk_test_env", "http://127.0.0.1:12111")
    assert deps.webhook_secret == "whsec_env"


def test_without_a_key_billing_refuses_cleanly() -> None:
    deps = billing_deps_from(BillingSettings(stripe_api_key=None))
    with pytest.raises(StripeUnavailable, match="not configured"):
        deps.gateway.create_customer(user_id=1, address="0x0")
