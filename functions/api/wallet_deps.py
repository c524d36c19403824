"""The api's way to the wallet function: the core's `WalletClient` (tidewatch.transactions.client).

TIDEWATCH_INVOKE_MODE picks the invoker: `lambda` invokes the wallet Lambda, `local` runs the
wallet handler in this process. Tests put their own client on `app.state.wallet`. Nothing here
imports web3 or the wallet's chain code until a route actually needs it.
"""

from __future__ import annotations

from fastapi import Request

from tidewatch.transactions.client import WalletClient, production_wallet_client


def wallet_client(request: Request) -> WalletClient:
    supplied = getattr(request.app.state, "wallet", None)
    return supplied if supplied is not None else production_wallet_client()
