"""Secure by default: least-privilege IAM, encrypted private data stores, TLS-only buckets and CDN."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# Managed policies a role may carry: each grants specific actions (no service-wide `*`).
ALLOWED_MANAGED_POLICIES = {
    "AWSLambdaVPCAccessExecutionRole",
    "AWSXRayDaemonWriteAccess",
    "AmazonAPIGatewayPushToCloudWatchLogs",
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every IAM statement anywhere in the template (roles, inline SAM policies, resource policies)."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if isinstance(statements, list):
            for i, statement in enumerate(statements):
                if isinstance(statement, dict):
                    yield f"{path}/Statement/{i}", statement
        for key, value in node.items():
            yield from _statements(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _statements(value, f"{path}/{i}")


def _is_wildcard(value: Any) -> bool:
    return isinstance(value, str) and value.strip() == "*"


def _ingress_sources(resources: dict[str, Any], group: str) -> set[str]:
    """Where a security group accepts traffic from: other groups only (a CIDR would fail the test)."""
    rules = list(resources[group]["Properties"].get("SecurityGroupIngress", []))
    rules += [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::EC2::SecurityGroupIngress" and r["Properties"]["GroupId"] == {"Ref": group}
    ]
    assert all("CidrIp" not in rule and "CidrIpv6" not in rule for rule in rules), group
    return {rule["SourceSecurityGroupId"]["Ref"] for rule in rules}


def test_no_iam_statement_allows_every_action_on_every_resource(template: dict[str, Any]) -> None:
    # Given every IAM statement in the template
    found = list(_statements(template["Resources"], "Resources"))
    assert len(found) > 10, "the walker should find the functions' statements"
    offending = []
    for path, statement in found:
        if statement.get("Effect") != "Allow":
            continue
        actions = _as_list(statement.get("Action", []))
        resources = _as_list(statement.get("Resource", []))
        # Then no Allow grants `*` (or a whole service, `svc:*`) actions on `*` resources
        broad_action = any(_is_wildcard(a) or (isinstance(a, str) and a.endswith(":*")) for a in actions)
        if broad_action and any(_is_wildcard(r) for r in resources):
            offending.append(path)
        # And no Allow grants `*` actions at all, whatever the resource
        if any(_is_wildcard(a) for a in actions):
            offending.append(path)
    assert not offending, f"over-broad IAM statements: {offending}"


def test_function_roles_carry_only_scoped_managed_policies(resources: dict[str, Any]) -> None:
    for name, resource in resources.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for arn in resource["Properties"].get("ManagedPolicyArns", []):
            text = arn["Fn::Sub"] if isinstance(arn, dict) else arn
            assert text.rsplit("/", 1)[-1] in ALLOWED_MANAGED_POLICIES, f"{name} carries {text}"


def test_secret_reads_name_their_secrets(resources: dict[str, Any]) -> None:
    # Given every statement that reads secrets / Then it names secrets, never `*`
    for path, statement in _statements(resources, "Resources"):
        if "secretsmanager:GetSecretValue" in _as_list(statement.get("Action", [])):
            assert not any(_is_wildcard(r) for r in _as_list(statement["Resource"])), path


def test_websocket_management_is_scoped_to_the_websocket_api(resources: dict[str, Any]) -> None:
    grants = [
        (path, s)
        for path, s in _statements(resources, "Resources")
        if "execute-api:ManageConnections" in _as_list(s.get("Action", []))
    ]
    assert grants, "functions push live updates, so some role must be allowed to"
    for path, statement in grants:
        for resource in _as_list(statement["Resource"]):
            text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else resource
            assert "${WebSocketApi}/${Environment}/" in text, path
            assert text.endswith("/@connections/*"), path


def test_database_is_encrypted_private_protected_and_backed_up(resources: dict[str, Any]) -> None:
    databases = [r for r in resources.values() if r["Type"] == "AWS::RDS::DBInstance"]
    assert len(databases) == 1
    database = databases[0]
    props = database["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["PubliclyAccessible"] is False
    assert props["DeletionProtection"] == {"Ref": "DatabaseDeletionProtection"}
    assert props["BackupRetentionPeriod"] == {"Ref": "DatabaseBackupRetentionDays"}
    assert database["DeletionPolicy"] == "Snapshot"
    # Credentials come from Secrets Manager, never a literal
    assert "resolve:secretsmanager" in props["MasterUserPassword"]["Fn::Sub"]


def test_database_is_reached_through_rds_proxy_with_tls(resources: dict[str, Any], template: dict[str, Any]) -> None:
    proxies = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::RDS::DBProxy"]
    assert len(proxies) == 1
    assert proxies[0]["RequireTLS"] is True
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert env["TIDEWATCH_DATABASE_HOST"] == {"Fn::GetAtt": ["DatabaseProxy", "Endpoint"]}
    # And the database accepts connections only from the proxy and the rotation function
    assert _ingress_sources(resources, "DatabaseSecurityGroup") == {"ProxySecurityGroup", "RotationSecurityGroup"}


def test_database_password_rotates(resources: dict[str, Any]) -> None:
    rotations = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::SecretsManager::RotationSchedule"]
    assert rotations
    assert rotations[0]["SecretId"] == {"Ref": "DatabaseSecret"}
    assert rotations[0]["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"


def test_cache_is_encrypted_in_transit_and_at_rest_with_auth(resources: dict[str, Any]) -> None:
    caches = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::ElastiCache::ReplicationGroup"]
    assert len(caches) == 1
    cache = caches[0]
    assert cache["TransitEncryptionEnabled"] is True
    assert cache["AtRestEncryptionEnabled"] is True
    assert "resolve:secretsmanager" in cache["AuthToken"]["Fn::Sub"]
    # Not public: in the private subnet group, reachable only from the functions' security group
    assert _ingress_sources(resources, "CacheSecurityGroup") == {"FunctionSecurityGroup"}
    assert not any(r["Type"] == "AWS::ElastiCache::CacheCluster" for r in resources.values())


@pytest.mark.parametrize("bucket", ["DashboardBucket", "ModelBucket"])
def test_buckets_are_private_and_encrypted(resources: dict[str, Any], bucket: str) -> None:
    props = resources[bucket]["Properties"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_dashboard_is_served_over_https_through_origin_access_control(resources: dict[str, Any]) -> None:
    config = resources["DashboardDistribution"]["Properties"]["DistributionConfig"]
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    origin = config["Origins"][0]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["DashboardOriginAccessControl", "Id"]}
    policy = resources["DashboardBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    reads = [s for s in policy if s["Effect"] == "Allow"]
    assert reads == [s for s in reads if s["Principal"] == {"Service": "cloudfront.amazonaws.com"}]
