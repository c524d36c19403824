"""The api's way to the wallet function: the core's `WalletClient` (tidewatch.transactions.client).

TIDEWATCH_INVOKE_MODE picks the invoker: `lambda` invokes the wallet Lambda, `local` runs the
wallet handler in this process. Tests pass their own client as `ApiDeps.wallet`. Nothing here
imports web3 or the wallet's chain code until a route actually needs it.
"""

from __future__ import annotations

from tidewatch.transactions.client import WalletClient, production_wallet_client

__all__ = ["WalletClient", "production_wallet_client"]
