"""EIP-1559 fee options from `eth_feeHistory` (slow / normal / fast = 10th / 50th / 90th tip percentile).

The next block's base fee is the last entry of `baseFeePerGas`. maxFeePerGas leaves room for the
base fee to rise (multiplier) and adds the tip; the tip is the median of the sampled blocks'
reward percentile, floored so a quiet chain (all-zero rewards) still gets included.
"""

from __future__ import annotations

from statistics import median
from typing import Any

from tidewatch.transactions.models import FeeOption, FeeQuote
from tidewatch.transactions.settings import WalletSettings

PERCENTILES = (10, 50, 90)


def fee_history_params(settings: WalletSettings) -> list[Any]:
    return [hex(settings.fee_history_blocks), "pending", list(PERCENTILES)]


def quote_from_history(history: dict[str, Any], settings: WalletSettings) -> FeeQuote:
    base_fees = [int(x, 16) for x in history.get("baseFeePerGas") or ["0x0"]]
    next_base = base_fees[-1]
    rewards = history.get("reward") or []
    tips = []
    for i in range(len(PERCENTILES)):
        column = [int(block[i], 16) for block in rewards if len(block) > i]
        tips.append(int(median(column)) if column else 0)
    # Percentiles can cross when blocks were empty; keep slow <= normal <= fast.
    floor = settings.min_priority_fee_wei
    slow = max(tips[0], floor)
    normal = max(tips[1], slow)
    fast = max(tips[2], normal)

    def option(tip: int) -> FeeOption:
        return FeeOption(
            max_fee_per_gas=next_base * settings.base_fee_multiplier_percent // 100 + tip,
            max_priority_fee_per_gas=tip,
        )

    return FeeQuote(base_fee_per_gas=next_base, slow=option(slow), normal=option(normal), fast=option(fast))
