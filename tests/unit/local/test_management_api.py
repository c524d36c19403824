"""The local management API (`@connections`) against open sockets of the gateway (in-process ASGI)."""

from __future__ import annotations

import dataclasses

from fastapi.testclient import TestClient

from tidewatch_local.gateway import LocalGateway
from tidewatch_local.invoker import LocalInvoker
from tidewatch_local.template import read_template


def _gateway() -> LocalGateway:
    # No WebSocket routes: sockets are accepted without a function, as API Gateway does.
    template = dataclasses.replace(read_template(), websocket_routes={})
    return LocalGateway(template, LocalInvoker(template))


def test_a_post_reaches_its_socket_and_an_unknown_id_is_gone() -> None:
    gateway = _gateway()
    client = TestClient(gateway)
    # Given one open socket
    with client.websocket_connect("/ws") as socket:
        (connection_id,) = gateway.connections
        # When a message is posted to it through the management API, under the stage
        posted = client.post(f"/local/@connections/{connection_id}", content=b'{"type":"market"}')
        # Then it is answered 200 with no body and the socket receives the message
        assert (posted.status_code, posted.content) == (200, b"")
        assert socket.receive_text() == '{"type":"market"}'
        # And GET describes the connection
        described = client.get(f"/@connections/{connection_id}")
        assert described.status_code == 200
        assert set(described.json()) == {"connectedAt", "identity", "lastActiveAt"}
        # And an id that is not open is Gone, as API Gateway answers
        gone = client.post("/local/@connections/not-open", content=b"{}")
        assert gone.status_code == 410
        assert gone.headers["x-amzn-errortype"] == "GoneException"
        assert gone.json() == {"message": "Gone"}
        # And DELETE closes the socket and forgets it
        assert client.delete(f"/local/@connections/{connection_id}").status_code == 204
    assert gateway.connections == {}


def test_paths_under_the_api_are_never_the_management_api() -> None:
    response = TestClient(_gateway()).post("/api/@connections/x", content=b"{}")
    assert (response.status_code, response.json()) == (404, {"message": "Not Found"})
