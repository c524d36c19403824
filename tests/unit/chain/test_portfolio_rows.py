"""Portfolio rows from protocol positions: unpriced values are flagged, withdrawals carried."""

from __future__ import annotations

from decimal import Decimal

from tidewatch.portfolios.chain_source import _rows
from tidewatch.protocols.models import ChainPosition, TokenAmount

WSTETH = "0x7f39C581F595B53c5cb19bD0b3f8dA6c935E2Ca0"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
STETH = "0xae7ab96520DE3A18E5e111B5EaAb095312D7fE84"


def test_a_collateral_without_a_usd_price_is_flagged_not_silently_zero() -> None:
    # Given a Comet position whose wstETH feed reverted (price unknown)
    position = ChainPosition(
        chain_id=1,
        protocol="compound-v3",
        market_key="0xc3d688B66703497DAA19211EEdff47f25384cdc3",
        address="0x1111111111111111111111111111111111111111",
        borrowed=[TokenAmount(symbol="USDC", address=USDC, decimals=6, amount=10**9, price_usd=Decimal(1))],
        collateral=[TokenAmount(symbol="wstETH", address=WSTETH, decimals=18, amount=10**19, price_usd=None)],
        warnings=["collateral wstETH: price feed 0xabc reverted"],
    )
    rows = {r.asset_symbol: r for r in _rows(position, {})}
    # Then the wstETH row says its USD value is missing, the USDC row is priced
    assert rows["wstETH"].warnings == ["collateral wstETH: price feed 0xabc reverted", "no USD price for wstETH"]
    assert rows["USDC"].borrowed_usd == Decimal("1000.00")
    assert "no USD price for USDC" not in rows["USDC"].warnings


def test_an_eigenlayer_queued_withdrawal_is_carried_as_withdrawing() -> None:
    token = {"symbol": "stETH", "address": STETH, "decimals": 18, "price_usd": Decimal(3000)}
    position = ChainPosition(
        chain_id=1,
        protocol="eigenlayer",
        market_key="0x93c4b944D05dfe6df7645A86cd2206016c51564D",
        address="0x1111111111111111111111111111111111111111",
        supplied=[TokenAmount(**token, amount=9 * 10**18)],
        withdrawing=[TokenAmount(**token, amount=6 * 10**18)],
    )
    (row,) = _rows(position, {})
    assert (row.supplied, row.withdrawing, row.supplied_usd) == (9 * 10**18, 6 * 10**18, Decimal("27000.00"))
