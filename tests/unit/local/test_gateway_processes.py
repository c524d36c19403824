"""Pieces of the multi-process local gateway that need no server: addresses, endpoints, chunks."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from api.websocket import management_endpoint
from tidewatch.live.fanout import chunked
from tidewatch.live.repository import Recipient
from tidewatch_local.gateway import LocalGateway
from tidewatch_local.gateway_processes import bind, ensure_free, reachable
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.template import read_template


def test_a_wildcard_bind_is_reached_on_the_loopback() -> None:
    hosts = ("0.0.0.0", "::", "127.0.0.1", "::1")  # noqa: S104 - the addresses, not a bind
    assert [reachable(h) for h in hosts] == ["127.0.0.1", "[::1]", "127.0.0.1", "[::1]"]


def test_past_one_process_each_has_a_management_port_of_its_own_on_a_shared_port() -> None:
    # Given two processes' sockets bound to the same port (SO_REUSEPORT)
    first = bind("127.0.0.1", 0, processes=2)
    port = first.shared.getsockname()[1]
    second = bind("127.0.0.1", port, processes=2)
    try:
        # Then they share the port and each answers the management API on another port
        assert second.shared.getsockname()[1] == port
        hosts = {first.management_host, second.management_host}
        assert len(hosts) == 2
        assert f"127.0.0.1:{port}" not in hosts
        # And a port already listened on is refused before any process shares it
        with pytest.raises(OSError, match="in use"):
            ensure_free("127.0.0.1", port)
    finally:
        for sock in [*first.all(), *second.all()]:
            sock.close()


def test_one_process_manages_its_sockets_on_the_shared_port() -> None:
    sockets = bind("127.0.0.1", 0, processes=1)
    try:
        assert sockets.all() == [sockets.shared]
        assert sockets.management_host == f"127.0.0.1:{sockets.shared.getsockname()[1]}"
        assert sockets.shared.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0
    finally:
        sockets.shared.close()


def test_connect_events_name_the_management_host_of_their_process_and_the_handler_records_it() -> None:
    # Given a gateway process managing its sockets at 127.0.0.1:41234
    template = dataclasses.replace(read_template(), websocket_routes={})
    gateway = LocalGateway(template, LocalInvoker(template), management_host="127.0.0.1:41234")
    gateway.websockets.connections.clear()
    # When it makes a $connect event (whatever Host the client sent)
    event = gateway.websockets._event("$connect", "CONNECT", "abc", "127.0.0.1:41234")
    # Then the $connect handler records the http endpoint of that process
    assert management_endpoint(event, None, "http") == "http://127.0.0.1:41234/local"
    assert gateway.management_endpoint() == "http://127.0.0.1:41234/local"
    # And in AWS the endpoint is API Gateway's (https, its domain and stage), unchanged
    aws = {"requestContext": {"domainName": "abc.execute-api.eu-west-1.amazonaws.com", "stage": "prod"}}
    assert management_endpoint(aws) == "https://abc.execute-api.eu-west-1.amazonaws.com/prod"


def test_chunks_group_recipients_by_endpoint_keeping_their_order() -> None:
    # Given recipients of two endpoints, interleaved
    recipients = [Recipient(f"c{i}", 1, "http://a/local" if i % 2 else "http://b/local") for i in range(8)]
    # When they are cut into chunks of 4
    chunks = chunked(recipients, 4)
    # Then each chunk names one endpoint, and every recipient is in exactly one chunk, in order
    assert [{r.endpoint for r in c} for c in chunks] == [{"http://a/local"}, {"http://b/local"}]
    assert [r.connection_id for r in chunks[0]] == ["c1", "c3", "c5", "c7"]
    assert sorted(r.connection_id for c in chunks for r in c) == sorted(r.connection_id for r in recipients)
