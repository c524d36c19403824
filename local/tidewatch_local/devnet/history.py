"""A month of life on a fresh devnet: hourly blocks from a past genesis up to the present.

`simulate_history(rpc, deployment, start, hours)` walks hour by hour with anvil's automine off:
the `Simulator` queues its transactions (price walk, utilization moves, restaking rewards), then
they are mined in one block exactly on the hour (`evm_setNextBlockTimestamp` + `evm_mine`), so
every hour of the devnet has a block at its start, as mainnet has hundreds. Queuing instead of
mining per transaction (and a fixed gas limit instead of estimation) keeps a simulated month
within seconds. One stress episode
runs at `stress_hour`: WETH drops 8 % in one hour, the seeded near-liquidation borrower
(bob-near-liquidation, health factor ~1.04) goes under 1 and a liquidator repays half his USDC
debt through Aave's real `liquidationCall`; prices then revert through the simulator's walk.

The chain's genesis must lie before `start` (anvil `--timestamp`), since block timestamps only
move forward. Tidewatch then backfills the simulated month through the same code path as mainnet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from web3 import Web3

from tidewatch_local.devnet.aave_v3 import aave_artifact
from tidewatch_local.devnet.deploy import Deployment, _Chain, connect
from tidewatch_local.devnet.simulator import Simulator

HOUR = 3600
_GAS = 3_000_000
STRESS_DROP = Decimal("0.92")  # WETH -8 % in one hour


@dataclass
class SimulatedHistory:
    start: int  # timestamp of the first hourly block
    hours: int
    transactions: int = 0
    liquidation: dict[str, object] = field(default_factory=dict)
    hour_blocks: list[int] = field(default_factory=list)  # block number mined at each hour mark


class _QueuedChain(_Chain):
    """Transactions go to the mempool; the hour's `evm_mine` includes them."""

    def send(self, fn: Any, sender: str) -> Any:
        return fn.transact({"from": sender, "gas": _GAS})


def mine_at(w3: Web3, timestamp: int) -> int:
    """Mine one empty block with exactly `timestamp`; returns its number."""
    w3.provider.make_request("evm_setNextBlockTimestamp", [timestamp])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    return int(w3.eth.block_number)


def simulate_history(
    rpc: str | Web3,
    deployment: Deployment,
    *,
    start: int,
    hours: int,
    seed: int = 7,
    steps_per_hour: int = 1,
    stress_hour: int | None = None,
    on_hour: Callable[[int, int], None] | None = None,
) -> SimulatedHistory:
    """Mine `hours` hourly blocks from `start` (a timestamp on the hour after the chain head).

    `on_hour(timestamp, block)` runs after each hour's block (the tests ingest there).
    """
    w3 = connect(rpc)
    head = w3.eth.get_block("latest")
    if int(head["timestamp"]) >= start:
        raise ValueError(f"the devnet head ({head['timestamp']}) is not before the simulation start {start}")
    sim = Simulator(w3, deployment, seed=seed)
    sim.chain = _QueuedChain(w3)
    out = SimulatedHistory(start=start, hours=hours)
    stress = stress_hour if stress_hour is not None else (hours * 2) // 3
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        for hour in range(hours):
            t = start + hour * HOUR
            if hour > 0:  # the transactions of the hour before, mined in this hour's block
                for _ in range(steps_per_hour):
                    out.transactions += len(sim.step())
                if hour == stress:
                    out.liquidation = _stress_episode(w3, sim, deployment, t - HOUR // 2)
                    out.transactions += 2
            number = mine_at(w3, t)
            out.hour_blocks.append(number)
            if on_hour is not None:
                on_hour(t, number)
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    return out


def _stress_episode(w3: Web3, sim: Simulator, d: Deployment, crash_at: int) -> dict[str, object]:
    """WETH falls (8 %, or more if the walk had lifted bob's health factor) and bob's Aave
    position is liquidated: half his USDC debt repaid through the real Pool."""
    pool = w3.eth.contract(address=Web3.to_checksum_address(d.contracts["aave_pool"]), abi=aave_artifact("Pool")["abi"])
    bob = Web3.to_checksum_address(d.users["bob-near-liquidation"]["address"])
    before = Decimal(pool.functions.getUserAccountData(bob).call()[5]) / 10**18
    # His collateral is WETH: the health factor moves in proportion to its price.
    drop = min(STRESS_DROP, Decimal("0.97") / before) if before > 0 else STRESS_DROP
    weth_price = sim._prices["WETH"] * drop
    sim._prices["WETH"] = weth_price
    feed = sim.chain.at("DevPriceFeed", d.feeds["WETH"])
    sim.chain.send(feed.functions.setAnswer(int(weth_price * 10**8)), d.operators["deployer"])
    mine_at(w3, crash_at)  # the crash lands mid-hour; the liquidation follows in the hour's block
    health = Decimal(pool.functions.getUserAccountData(bob).call()[5]) / 10**18
    if health >= 1:
        return {"liquidated": False, "health_factor": str(health), "weth_price": str(weth_price)}
    usdc = Web3.to_checksum_address(d.tokens["USDC"])
    weth = Web3.to_checksum_address(d.tokens["WETH"])
    data_provider = w3.eth.contract(
        address=Web3.to_checksum_address(d.contracts["aave_data_provider"]),
        abi=aave_artifact("AaveProtocolDataProvider")["abi"],
    )
    debt = int(data_provider.functions.getUserReserveData(usdc, bob).call()[2])
    tx = sim.chain.send(pool.functions.liquidationCall(weth, usdc, bob, debt // 2, False), d.operators["provider"])
    return {
        "liquidated": True,
        "borrower": bob,
        "health_factor_before": str(health),
        "debt_repaid": debt // 2,
        "transaction": Web3.to_hex(tx),
        "weth_price": str(weth_price),
    }
