"""The api's way to the wallet function: a `WalletClient` chosen by TIDEWATCH_INVOKE_MODE.

`lambda` invokes the wallet Lambda (boto3, imported on first use); `local` runs the wallet logic
in this process (the local run). Tests pass their own client as `ApiDeps.wallet`. Nothing here
imports web3 or the wallet's chain code until a route actually needs it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from tidewatch.settings import FunctionsSettings
from tidewatch.transactions.client import WalletClient, wallet_client_from_settings


def _in_process_service() -> Any:
    from wallet.deps import wallet_service  # the local run only: the wallet's own collaborators

    return wallet_service()


@lru_cache(maxsize=1)
def production_wallet_client() -> WalletClient:
    settings = FunctionsSettings()
    return wallet_client_from_settings(settings.invoke_mode, settings.wallet_function_name, _in_process_service)
