"""A JSON-RPC batch whose calls fail one by one (a reverting estimate must not sink the others).

`ChainClient.batch` raises on the first error in a batch, which is right for reads; simulation
wants each call's own outcome. This reuses the client's transport, failover and round-trip count
(through its `_post`; the chain layer may expose it publicly later, see the wallet report).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tidewatch.chain.rpc import ChainClient, RpcError


@dataclass(frozen=True)
class RpcOutcome:
    result: Any = None
    error: RpcError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def value(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


def batch_outcomes(client: ChainClient, calls: Sequence[tuple[str, list[Any]]]) -> list[RpcOutcome]:
    """Several JSON-RPC calls in one round trip; each result or error in call order."""
    if not calls:
        return []
    ids = list(range(1, len(calls) + 1))
    payload: Any = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
    if len(calls) == 1:
        payload = payload[0]
    raw = client._post(json.dumps(payload, separators=(",", ":")).encode())
    if len(calls) > 1 and isinstance(raw, dict):
        # The node refused the batch as a whole (some public endpoints do): one call at a time.
        return [batch_outcomes(client, [call])[0] for call in calls]
    responses = raw if isinstance(raw, list) else [raw]
    by_id = {r.get("id"): r for r in responses if isinstance(r, dict)}
    out: list[RpcOutcome] = []
    for i, (method, _) in zip(ids, calls, strict=True):
        response = by_id.get(i)
        if response is None:
            out.append(RpcOutcome(error=RpcError(f"chain {client.chain_id}: no response for {method}")))
            continue
        error = response.get("error")
        if error is not None:
            out.append(
                RpcOutcome(
                    error=RpcError(
                        f"chain {client.chain_id}: {method} failed: {error.get('message')}",
                        code=error.get("code"),
                        data=error.get("data"),
                        chain_id=client.chain_id,
                    )
                )
            )
            continue
        out.append(RpcOutcome(result=response.get("result")))
    return out
