"""From portfolio positions to the risk function's requests, and back to a per-account forecast.

A liquidation happens per account: an Aave account on one pool, a Compound account on one Comet.
So positions are grouped by (chain, protocol, wallet, market); every group with debt becomes one
`RiskRequest` whose collateral carries each asset's liquidation threshold as the protocol
publishes it (Aave reserve `liquidationThreshold`, Comet `liquidateCollateralFactor`), read from
the market parameters ingest stores. Groups without debt cannot be liquidated and are not sent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tidewatch.db import Database
from tidewatch.markets import repository as markets_repository
from tidewatch.portfolios.positions import Position
from tidewatch.portfolios.repository import latest_snapshot_payloads

# (chain id, protocol, market key lower, asset symbol upper) → liquidation threshold (fraction)
Thresholds = dict[tuple[int, str, str, str], Decimal]
AccountKey = tuple[int, str, str, str]  # chain, protocol, wallet, market


def load_thresholds(database: Database, chain_ids: Sequence[int]) -> Thresholds:
    # The protocol adapters bring eth_abi and keccak (a fifth of the api's cold start): on first use.
    from tidewatch.protocols.adapters import adapter_for

    with database.connection() as conn:
        rows = markets_repository.market_metadata(conn, chain_ids)
    table: Thresholds = {}
    for row in rows:
        meta: dict[str, Any] = row["metadata"] if isinstance(row["metadata"], dict) else json.loads(row["metadata"])
        for (market, symbol), threshold in (
            adapter_for(row["protocol"]).liquidation_thresholds(row["market_key"], row["asset_symbol"], meta).items()
        ):
            table[(row["chain_id"], row["protocol"], market, symbol)] = threshold
    return table


def _price(amount: int, decimals: int, usd: Decimal) -> Decimal | None:
    if amount <= 0 or usd <= 0:
        return None
    return usd / (Decimal(amount) / Decimal(10) ** decimals)


def account_requests(
    positions: Sequence[Position], thresholds: Thresholds, *, horizon_hours: int = 24
) -> dict[AccountKey, dict[str, Any]]:
    """One risk request (as the risk function's JSON) per account that has debt and priced collateral."""
    accounts: dict[AccountKey, list[Position]] = defaultdict(list)
    for p in positions:
        accounts[(p.chain_id, p.protocol, p.address, p.market.lower())].append(p)
    requests: dict[AccountKey, dict[str, Any]] = {}
    for key, rows in accounts.items():
        chain_id, protocol, _, market = key
        collateral, debt = [], []
        for p in rows:
            price = _price(p.supplied, p.asset_decimals, p.supplied_usd)
            # The account's own threshold (Aave eMode) first, else the market's published one.
            threshold = p.liquidation_threshold or thresholds.get((chain_id, protocol, market, p.asset_symbol.upper()))
            if price is not None and threshold:
                collateral.append(
                    {
                        "symbol": p.asset_symbol,
                        "amount": p.supplied,
                        "decimals": p.asset_decimals,
                        "price_usd": str(price),
                        "liquidation_threshold": str(threshold),
                    }
                )
            debt_price = _price(p.borrowed, p.asset_decimals, p.borrowed_usd)
            if debt_price is not None:
                debt.append(
                    {
                        "symbol": p.asset_symbol,
                        "amount": p.borrowed,
                        "decimals": p.asset_decimals,
                        "price_usd": str(debt_price),
                    }
                )
        if debt and collateral:
            requests[key] = {
                "position_id": "|".join(str(k) for k in key),
                "collateral": collateral,
                "debt": debt,
                "horizon_hours": horizon_hours,
            }
    return requests


def snapshot_risk_payloads(database: Database, portfolio_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """Risk payloads (collateral and debt per indebted account) from each portfolio's latest snapshot.

    The rules engine scores thousands of portfolios per tick; it reads what the last view stored
    rather than every chain again.
    """
    if not portfolio_ids:
        return {}
    with database.connection() as conn:
        rows = latest_snapshot_payloads(conn, portfolio_ids)
    positions_by_portfolio = {
        row["portfolio_id"]: [Position.model_validate(p) for p in row["payload"].get("positions", [])] for row in rows
    }
    chains = sorted({p.chain_id for ps in positions_by_portfolio.values() for p in ps})
    thresholds = load_thresholds(database, chains) if chains else {}
    payloads: dict[int, list[dict[str, Any]]] = {}
    for portfolio_id, positions in positions_by_portfolio.items():
        requests = account_requests(positions, thresholds)
        payloads[portfolio_id] = [{"collateral": r["collateral"], "debt": r["debt"]} for r in requests.values()]
    return payloads
