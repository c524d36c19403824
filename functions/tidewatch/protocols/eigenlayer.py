"""EigenLayer: the read plans live in `eigenlayer_reads` (withdrawable shares and queued
withdrawals from the DelegationManager, beacon-chain ETH, strategy snapshots)."""

from __future__ import annotations

from tidewatch.protocols.eigenlayer_reads import ONE_SHARE, market_plan, position_plan

__all__ = ["ONE_SHARE", "market_plan", "position_plan"]
